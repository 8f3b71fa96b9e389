// Command lspfloor is the floor for BenchmarkSpawnToInitialize: the least
// a Go language server does before its initialize result (start the
// runtime, read one framed message, write one back), so the benchmark can
// tell serval-agent's own start-up cost from the machine's exec and Go
// runtime start. It answers every request with an empty result and exits
// at end of input.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"strconv"
)

func main() {
	in := bufio.NewReader(os.Stdin)
	for {
		header, err := textproto.NewReader(in).ReadMIMEHeader()
		if err != nil {
			return
		}
		n, err := strconv.Atoi(header.Get("Content-Length"))
		if err != nil {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(in, body); err != nil {
			return
		}
		var msg struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(body, &msg) != nil || msg.ID == nil {
			continue // a notification
		}
		reply := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"capabilities":{}}}`, msg.ID)
		fmt.Printf("Content-Length: %d\r\n\r\n%s", len(reply), reply)
	}
}
