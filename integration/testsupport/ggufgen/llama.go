package ggufgen

import "fmt"

// Llama describes a llama-architecture model (or one of its relatives that
// llama.cpp reads from the same keys, such as qwen2) for KVs: its shape and
// its SentencePiece-style ("llama") vocabulary.
type Llama struct {
	Arch          string // general.architecture and the prefix of the shape keys; default "llama"
	Name          string
	ContextLength int
	Embd          int
	Layers        int
	FeedForward   int
	Heads         int
	HeadsKV       int
	RopeBase      float32
	NormEps       float32
	FileType      uint32 // general.file_type: 0 all f32, 1 mostly f16, 7 mostly q8_0

	Vocab               Vocab
	UnkID, BOSID        int
	EOSID               int // end of generation (also written as the end-of-turn token)
	FIMPre, FIMSuf      int // FIM marker ids; -1 when the vocabulary has none
	FIMMid, FIMPad      int
	ChatTemplate        string // "" for none
	AddBOS, SpacePrefix bool
}

// KVs returns the GGUF metadata llama.cpp needs to load the model.
func (m Llama) KVs() ([]KV, error) {
	if m.Heads <= 0 || m.Embd%m.Heads != 0 || m.HeadsKV <= 0 || m.Heads%m.HeadsKV != 0 {
		return nil, fmt.Errorf("ggufgen: %d heads, %d key/value heads do not divide a width of %d", m.Heads, m.HeadsKV, m.Embd)
	}
	n := len(m.Vocab.Tokens)
	if len(m.Vocab.Types) != n || len(m.Vocab.Scores) != n {
		return nil, fmt.Errorf("ggufgen: vocabulary of %d tokens has %d types and %d scores", n, len(m.Vocab.Types), len(m.Vocab.Scores))
	}
	for _, id := range []int{m.UnkID, m.BOSID, m.EOSID} {
		if id < 0 || id >= n {
			return nil, fmt.Errorf("ggufgen: token id %d outside the vocabulary of %d", id, n)
		}
	}
	arch := m.Arch
	if arch == "" {
		arch = "llama"
	}
	kvs := []KV{
		{"general.architecture", arch},
		{"general.name", m.Name},
		{"general.file_type", m.FileType},
		{"general.alignment", uint32(Alignment)},
		{arch + ".context_length", uint32(m.ContextLength)},
		{arch + ".embedding_length", uint32(m.Embd)},
		{arch + ".block_count", uint32(m.Layers)},
		{arch + ".feed_forward_length", uint32(m.FeedForward)},
		{arch + ".attention.head_count", uint32(m.Heads)},
		{arch + ".attention.head_count_kv", uint32(m.HeadsKV)},
		{arch + ".rope.dimension_count", uint32(m.Embd / m.Heads)},
		{arch + ".rope.freq_base", m.RopeBase},
		{arch + ".attention.layer_norm_rms_epsilon", m.NormEps},
		{arch + ".vocab_size", uint32(n)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", m.Vocab.Tokens},
		{"tokenizer.ggml.scores", m.Vocab.Scores},
		{"tokenizer.ggml.token_type", m.Vocab.Types},
		{"tokenizer.ggml.bos_token_id", uint32(m.BOSID)},
		{"tokenizer.ggml.eos_token_id", uint32(m.EOSID)},
		{"tokenizer.ggml.unknown_token_id", uint32(m.UnkID)},
		{"tokenizer.ggml.add_bos_token", m.AddBOS},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.ggml.add_space_prefix", m.SpacePrefix},
	}
	if m.ChatTemplate != "" {
		kvs = append(kvs, KV{"tokenizer.chat_template", m.ChatTemplate})
	}
	for _, f := range []struct {
		key string
		id  int
	}{
		{"tokenizer.ggml.fim_pre_token_id", m.FIMPre}, {"tokenizer.ggml.fim_suf_token_id", m.FIMSuf},
		{"tokenizer.ggml.fim_mid_token_id", m.FIMMid}, {"tokenizer.ggml.fim_pad_token_id", m.FIMPad},
	} {
		if f.id >= n {
			return nil, fmt.Errorf("ggufgen: %s %d outside the vocabulary of %d", f.key, f.id, n)
		}
		if f.id >= 0 {
			kvs = append(kvs, KV{f.key, uint32(f.id)})
		}
	}
	return kvs, nil
}
