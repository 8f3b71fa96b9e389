package syntax

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// declSources holds, per language, a file and the declarations (kind:name,
// in source order) its query must find; locals inside bodies must not appear.
var declSources = map[string]struct {
	src  string
	want []string
}{
	"go": {`package p

const Max = 10

const (
	A = iota
	B
)

var Default = New()

type Server struct {
	addr string
}

type Handler interface {
	Serve(x int) error
}

func New() *Server {
	const local = 1
	type inner struct{}
	return &Server{}
}

func (s *Server) Run(ctx int) error { return nil }
`, []string{"constant:Max", "constant:A", "constant:B", "variable:Default", "type:Server", "type:Handler", "method:Serve", "function:New", "method:Run"}},
	"python": {`MAX = 10

class Server(Base):
    def run(self, ctx):
        local = 1
        def helper():
            pass
        return helper

def new_server():
    return Server()
`, []string{"constant:MAX", "class:Server", "function:run", "function:new_server"}},
	"javascript": {`const MAX = 10;
export const handler = (req) => req;
function newServer() { const local = 1; return new Server(); }
class Server {
  run(ctx) { return ctx; }
}
`, []string{"constant:MAX", "constant:handler", "function:newServer", "class:Server", "method:run"}},
	"typescript": {`export const MAX = 10;
interface Handler { serve(x: number): void; }
type ID = string;
enum Color { Red }
function newServer(): Server { const local = 1; return new Server(); }
export class Server implements Handler {
  serve(x: number): void {}
}
`, []string{"constant:MAX", "interface:Handler", "method:serve", "type:ID", "type:Color", "function:newServer", "class:Server", "method:serve"}},
	"tsx": {`interface Props { name: string }
export function Greeting(props: Props) { const local = <b/>; return <div>{props.name}</div>; }
`, []string{"interface:Props", "function:Greeting"}},
	"rust": {`const MAX: usize = 10;
pub struct Server { addr: String }
pub enum Color { Red }
pub trait Handler { fn serve(&self, x: i32); }
impl Server {
    pub fn run(&self) -> i32 { fn local() {} 1 }
}
fn new_server() -> Server { Server { addr: String::new() } }
`, []string{"constant:MAX", "type:Server", "type:Color", "interface:Handler", "function:serve", "function:run", "function:new_server"}},
	"java": {`public class Server implements Handler {
    static final int MAX = 10;
    public Server() {}
    public int run(int ctx) { int local = 1; return local; }
}
interface Handler { void serve(int x); }
enum Color { RED }
`, []string{"class:Server", "constant:MAX", "method:Server", "method:run", "interface:Handler", "method:serve", "type:Color"}},
	"c": {`#define MAX 10
struct server { int addr; };
typedef struct server server_t;
enum color { RED };
int run(struct server *s);
static int run(struct server *s) { int local = 1; return local; }
char *name(void) { return 0; }
`, []string{"constant:MAX", "type:server", "type:server_t", "type:color", "constant:RED", "function:run", "function:run", "function:name"}},
	"cpp": {`#define MAX 10
namespace net {
class Server {
 public:
  int run(int ctx);
};
int Server::run(int ctx) { int local = 1; return local; }
}
int main() { return 0; }
`, []string{"constant:MAX", "class:Server", "method:run", "method:run", "function:main"}},
	"ruby": {`MAX = 10
module Net
  class Server < Base
    def run(ctx)
      local = 1
    end
    def self.create
      new
    end
  end
end
`, []string{"constant:MAX", "class:Net", "class:Server", "method:run", "method:create"}},
	"php": {`<?php
const MAX = 10;
interface Handler { public function serve($x); }
class Server implements Handler {
    public function serve($x) { $local = 1; return $local; }
}
function new_server() { return new Server(); }
`, []string{"constant:MAX", "interface:Handler", "method:serve", "class:Server", "method:serve", "function:new_server"}},
}

// declarationsOf parses src as lang and returns its declarations.
func declarationsOf(t *testing.T, lang, src string) []Decl {
	t.Helper()
	l, ok := ByName(lang)
	if !ok {
		t.Fatalf("no language %s", lang)
	}
	tree, err := l.Parse(context.Background(), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	decls, err := l.Declarations(tree.RootNode(), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return decls
}

func TestDeclarations(t *testing.T) {
	for _, l := range Languages() {
		t.Run(l.Name, func(t *testing.T) {
			tc, ok := declSources[l.Name]
			if !ok {
				t.Fatalf("no declaration test for %s", l.Name)
			}
			decls := declarationsOf(t, l.Name, tc.src)
			var got []string
			for _, d := range decls {
				got = append(got, fmt.Sprintf("%s:%s", d.Kind, d.Name))
				if !strings.Contains(d.Head, d.Name) {
					t.Errorf("%s head %q does not contain its name", d.Name, d.Head)
				}
				if d.StartByte >= d.EndByte || int(d.EndByte) > len(tc.src) {
					t.Errorf("%s has bad range %d-%d", d.Name, d.StartByte, d.EndByte)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("declarations\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestDeclarationHeadWidening(t *testing.T) {
	tests := []struct{ lang, src, name, head string }{
		{"typescript", "export function mergeAll(n: number): void {}\n", "mergeAll", "export function mergeAll(n: number): void {}"},
		{"python", "class A:\n    @property\n    def size(self):\n        return 1\n", "size", "@property\n    def size(self):\n        return 1"},
		{"go", "package p\n\ntype T struct{ x int }\n", "T", "type T struct{ x int }"},
	}
	for _, tt := range tests {
		decls := declarationsOf(t, tt.lang, tt.src)
		found := false
		for _, d := range decls {
			if d.Name == tt.name {
				found = true
				if d.Head != tt.head {
					t.Errorf("%s %s: head = %q, want %q", tt.lang, tt.name, d.Head, tt.head)
				}
			}
		}
		if !found {
			t.Errorf("%s: %s not found in %+v", tt.lang, tt.name, decls)
		}
	}
}

func TestDeclarationHead(t *testing.T) {
	var b strings.Builder
	b.WriteString("package p\n\nfunc Long(a int) int {\n")
	for i := range 30 {
		fmt.Fprintf(&b, "\ta += %d\n", i)
	}
	b.WriteString("\treturn a\n}\n\ntype (\n\tA int\n\tB string\n)\n")
	decls := declarationsOf(t, "go", b.String())
	if len(decls) != 3 {
		t.Fatalf("got %d declarations, want 3: %+v", len(decls), decls)
	}
	long := decls[0]
	if !strings.HasPrefix(long.Head, "func Long(a int) int {\n") || !strings.HasSuffix(long.Head, "\n...") {
		t.Errorf("head of Long = %q, want the signature and a cut body", long.Head)
	}
	if n := strings.Count(long.Head, "\n"); n != HeadLines {
		t.Errorf("head of Long has %d newlines, want %d", n, HeadLines)
	}
	if long.StartRow != 2 || long.EndRow != 34 {
		t.Errorf("Long rows = %d-%d, want 2-34", long.StartRow, long.EndRow)
	}
	if decls[1].Head != "type A int" {
		t.Errorf("grouped type head = %q, want %q", decls[1].Head, "type A int")
	}
}

func TestDeclarationContainers(t *testing.T) {
	tests := []struct{ lang, src, want string }{
		{"go", "package p\n\ntype List[T any] struct{}\n\nfunc (l *List[T]) Push(v T) {}\n\nfunc (s Server) Run() {}\n\nfunc Free() {}\n", "List:,Push:List,Run:Server,Free:"},
		{"python", "class Store:\n    def load(self):\n        pass\n\ndef free():\n    pass\n", "Store:,load:Store,free:"},
		{"typescript", "class Cart {\n  total(): number { return 0; }\n}\ninterface Shop { open(): void; }\nfunction free() {}\n", "Cart:,total:Cart,Shop:,open:Shop,free:"},
		{"java", "class A {\n  class B { void inner() {} }\n  void outer() {}\n}\n", "A:,B:A,inner:B,outer:A"},
	}
	for _, tt := range tests {
		decls := declarationsOf(t, tt.lang, tt.src)
		var got []string
		for _, d := range decls {
			got = append(got, d.Name+":"+d.Container)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%s containers = %s, want %s", tt.lang, strings.Join(got, ","), tt.want)
		}
	}
}

// TestDeclarationNames: a name is read from the source even where the head
// is cut before it, and otherwise shares the head's memory (the index keeps
// both for every declaration of the workspace).
func TestDeclarationNames(t *testing.T) {
	var b strings.Builder
	b.WriteString("class Widget:\n")
	for i := range HeadLines + 2 {
		fmt.Fprintf(&b, "    @decorator%d\n", i)
	}
	b.WriteString("    def far_below(self):\n        return 1\n\n    def near(self):\n        return 2\n")
	decls := declarationsOf(t, "python", b.String())
	var names []string
	for _, d := range decls {
		names = append(names, d.Name)
		headFrom := uintptr(unsafe.Pointer(unsafe.StringData(d.Head)))
		at := uintptr(unsafe.Pointer(unsafe.StringData(d.Name)))
		shared := at >= headFrom && at+uintptr(len(d.Name)) <= headFrom+uintptr(len(d.Head))
		if inHead := strings.Contains(d.Head, d.Name); shared != inHead {
			t.Errorf("%s: shares the head's memory = %v, want %v (head %q)", d.Name, shared, inHead, d.Head)
		}
	}
	if want := []string{"Widget", "far_below", "near"}; !slices.Equal(names, want) {
		t.Errorf("names = %q, want %q", names, want)
	}
}

// The declarations enclosing the cursor come with the names and start rows
// that Declarations gives the same declarations (a Python decorator's row,
// a Go method's name), outermost first.
func TestEnclosingDecls(t *testing.T) {
	tests := []struct{ lang, src, want string }{
		{"go", "package p\n\ntype S struct{}\n\nfunc (s *S) Close() error {\n\tif s != nil {\n\t\treturn <|>\n\t}\n}\n", "Close"},
		{"python", "class A:\n    @property\n    def size(self):\n        x = 1\n        return <|>\n", "A size"},
		{"typescript", "export class Box {\n  open(): void {\n    this.<|>\n  }\n}\n", "Box open"},
		{"python", "def f(x):\n    return x\n\ny = <|>\n", ""},
		{"python", "def f(x):\n    y = x\n\n    <|>\n", "f"},
		{"python", "def f(x):\n    return x\n\n<|>\n", ""},
		{"go", "package p\n\nfunc f() {\n\tif true {\n\t}\n\t<|>\n}\n", "f"},
		{"go", "package p\n\nfunc f() {}\n<|>\n", ""},
	}
	for _, tt := range tests {
		off := strings.Index(tt.src, "<|>")
		src := tt.src[:off] + tt.src[off+3:]
		l, _ := ByName(tt.lang)
		tree, err := l.Parse(context.Background(), []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		decls, err := l.Declarations(tree.RootNode(), []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range l.EnclosingDecls(tree.RootNode(), []byte(src), off) {
			names = append(names, e.Name)
			if !slices.ContainsFunc(decls, func(d Decl) bool { return d.Name == e.Name && d.StartRow == e.StartRow }) {
				t.Errorf("%s: enclosing %+v is not a declaration %+v", tt.lang, e, decls)
			}
		}
		tree.Close()
		if got := strings.Join(names, " "); got != tt.want {
			t.Errorf("%s: enclosing %q, want %q", tt.lang, got, tt.want)
		}
	}
}
