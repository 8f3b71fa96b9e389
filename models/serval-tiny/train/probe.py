"""First-token probabilities after `if err != nil {` and a new, indented
line, as plain text and in FIM order (the model card's probe figures):

    python3 probe.py --tokenizer T --weights W/weights.safetensors

The document is FileHeader.Open from Go's held-out mime/multipart with the
cursor where `return nil, err` was; the FIM prompt is cut as serval-modeleval
cuts it (suffix 40 tokens, prefix 150).
"""

import argparse
import json
import os

import sentencepiece as spm
import torch

from reference import model_from_safetensors
from tokenizer import decode, encode

PREFIX = """func (fh *FileHeader) Open() (File, error) {
\tif b := fh.content; b != nil {
\t\tr := io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))
\t\treturn sectionReadCloser{r, nil}, nil
\t}
\tif fh.tmpshared {
\t\tf, err := os.Open(fh.tmpfile)
\t\tif err != nil {
\t\t\t"""
SUFFIX = """
\t\t}
\t\tr := io.NewSectionReader(f, fh.tmpoff, fh.Size)
\t\treturn sectionReadCloser{r, f}, nil
\t}
\treturn os.Open(fh.tmpfile)
}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True, help="prefix of <p>.model and <p>.vocab.json")
    ap.add_argument("--weights", required=True, help="weights.safetensors with config.json beside it")
    args = ap.parse_args()
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer + ".model")
    vocab = json.load(open(args.tokenizer + ".vocab.json"))
    cfg = json.load(open(os.path.join(os.path.dirname(args.weights), "config.json")))
    model = model_from_safetensors(cfg, len(vocab["tokens"]), args.weights)
    fim = ([vocab["fim_pre_id"]] + encode(sp, PREFIX)[-150:] + [vocab["fim_suf_id"]] + encode(sp, SUFFIX)[:40]
           + [vocab["fim_mid_id"]])
    for name, ids in (("plain", encode(sp, PREFIX)), ("fim", fim)):
        with torch.no_grad():
            p = torch.softmax(model(torch.tensor([ids]))[0, -1], -1)
        top = torch.topk(p, 6)
        print(name, [(decode(sp, [int(i)]), round(float(v), 3)) for v, i in zip(top.values, top.indices)])


if __name__ == "__main__":
    main()
