package llama

import (
	"context"
	"errors"
	"fmt"
	"os"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/server/engine"
)

// Open validates the model file, loads llama.cpp and the model, and starts
// the engine's worker. Close releases them.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.ModelPath == "" {
		return nil, errors.New("llama: no model file given")
	}
	hdr, err := readGGUFHeader(cfg.ModelPath)
	if err != nil {
		return nil, err
	}
	if cfg.Device == "" {
		cfg.Device = "cpu"
	}
	if err := checkDevice(cfg.Device); err != nil {
		return nil, err
	}
	if cfg.LibDir == "" {
		cfg.LibDir = ResolveLibDir("", cfg.Device, os.Getenv)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.Parallel > maxParallel {
		return nil, fmt.Errorf("llama: %d slots requested; at most %d", cfg.Parallel, maxParallel)
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 64 * cfg.Parallel
	} else if cfg.MaxQueue < 0 {
		cfg.MaxQueue = 0
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = defaultMaxWait
	}
	if cfg.SettleTime <= 0 {
		cfg.SettleTime = defaultSettleTime
	}
	if cfg.Threads <= 0 {
		cfg.Threads = DefaultThreads()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	train := int(hdr.Uints[hdr.Strings["general.architecture"]+".context_length"])
	if cfg.CtxSize <= 0 {
		cfg.CtxSize = 4096
		if train > 0 && train < cfg.CtxSize {
			cfg.CtxSize = train
		}
	}
	if cfg.Name == "" {
		cfg.Name = hdr.Strings["general.name"]
	}

	if err := checkMemoryFor(cfg.ModelPath, cfg.Device); err != nil {
		return nil, err
	}
	libDir, err := loadLibraries(cfg.LibDir, cfg.Device)
	if err != nil {
		return nil, err
	}
	device, gpus, err := pickDevice(cfg.Device, gpuDevices(), libDir, cfg.Log)
	if err != nil {
		return nil, err
	}
	mp := yz.ModelDefaultParams()
	if device == "cpu" {
		mp.SetCPUOnly()
	} else {
		mp.NGpuLayers = 999 // every layer
	}
	model, err := yz.ModelLoadFromFile(cfg.ModelPath, mp)
	if err != nil || model == 0 {
		return nil, fmt.Errorf("llama: loading model %s failed (is it a llama.cpp-compatible GGUF?): %v", cfg.ModelPath, err)
	}
	e := &Engine{
		cfg:        cfg,
		model:      model,
		vocab:      yz.ModelGetVocab(model),
		wake:       make(chan struct{}, 1),
		workerDone: make(chan struct{}),
	}
	cp := yz.ContextDefaultParams()
	cp.NCtx = uint32(cfg.CtxSize * cfg.Parallel)
	// Each slot has a main sequence and a scratch one that holds a reused
	// chunk while the tokens before it are evaluated; cells move between
	// them without copies only in a unified KV cache.
	// A job asking for several candidates uses candidateSeqsPerSlot more
	// (candidates.go).
	cp.NSeqMax = uint32((2 + candidateSeqsPerSlot) * cfg.Parallel)
	cp.NBatch = uint32(cfg.BatchSize)
	cp.NUbatch = uint32(cfg.BatchSize)
	cp.NThreads = int32(cfg.Threads)
	cp.NThreadsBatch = int32(cfg.Threads)
	cp.KVUnified = 1
	cp.NoPerf = 1
	if device == "cpu" {
		cp.OpOffload = 0
		cp.Offload_kqv = 0
	}
	e.lctx, err = yz.InitFromModel(model, cp)
	if err != nil || e.lctx == 0 {
		yz.ModelFree(model)
		return nil, fmt.Errorf("llama: creating a context of %d tokens × %d slots for %s failed: %v", cfg.CtxSize, cfg.Parallel, cfg.ModelPath, err)
	}
	if e.mem, err = yz.GetMemory(e.lctx); err != nil {
		yz.Free(e.lctx)
		yz.ModelFree(model)
		return nil, fmt.Errorf("llama: %w", err)
	}
	if e.pool, err = newThreadPool(cfg.Threads); err == nil {
		yz.AttachThreadpool(e.lctx, uintptr(e.pool), 0) // 0: the same pool for prompts
	} else if cfg.Log != nil {
		// Still correct, only slower on a busy machine: llama.cpp makes a pool per decode.
		fmt.Fprintf(cfg.Log, "serval: %v; llama.cpp will start its threads for every decode\n", err)
	}
	e.batch = yz.BatchInit(int32(cfg.BatchSize), 0, 1)
	for i := range cfg.Parallel {
		e.slots = append(e.slots, &slot{seq: yz.SeqId(i), scratch: yz.SeqId(cfg.Parallel + i)})
	}
	switch {
	case cfg.ClientCacheBytes == 0:
		e.caches.budget = defaultClientCacheBytes
	case cfg.ClientCacheBytes > 0:
		e.caches.budget = cfg.ClientCacheBytes
	}
	if cfg.ChunkReuseMin == 0 {
		e.cfg.ChunkReuseMin = 32
	}
	if ok, err := yz.MemoryCanShift(e.mem); !ok || err != nil {
		e.cfg.ChunkReuseMin = -1 // positions cannot be shifted in this model's cache
	}
	e.chatTemplate = yz.ModelChatTemplate(model, "")
	e.info = engine.Info{
		Model:       cfg.Name,
		Device:      device,
		CUDADevices: cudaOnly(device, gpus),
		ContextSize: cfg.CtxSize,
		Slots:       cfg.Parallel,
		MaxQueue:    cfg.MaxQueue,
	}
	if cfg.DetectTemplate != nil {
		vocab := make(map[string]bool, len(hdr.Tokens))
		for _, t := range hdr.Tokens {
			vocab[t] = true
		}
		e.info.FIMTemplate = cfg.DetectTemplate(hdr.Strings["general.name"], func(text string) bool { return vocab[text] })
	}
	if !cfg.NoWarmup {
		if err := e.warmUp(); err != nil {
			yz.BatchFree(e.batch)
			yz.Free(e.lctx)
			yz.ThreadpoolFree(e.pool)
			yz.ModelFree(model)
			return nil, err
		}
	}
	go e.work()
	return e, nil
}
