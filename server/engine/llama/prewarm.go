package llama

// Warm-ups (engine.Request.PromptOnly, at engine.PriorityWarmup): the agent
// asks for the prompt of the place the user just opened or jumped to, so the
// first real request there finds it in a slot's cache. The scheduler gives a
// warm-up only a slot no other request wants and takes it back when one does
// (schedule.go), but a running decode step is not interrupted: a warm-up's
// prompt is therefore evaluated in steps of at most warmupChunk tokens, which
// bounds how long a real request waits for the slot a warm-up holds.
const warmupChunk = 128

// CachesPrompts reports whether prompts stay evaluated in the slots between
// requests (engine.PromptCache): so that warm-ups are worth sending.
func (e *Engine) CachesPrompts() bool { return !e.cfg.NoPromptCache }
