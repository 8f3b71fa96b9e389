-- Shared by the headless Neovim scenarios (headless.lua, newcomer.lua,
-- signin.lua): the JSON report the Go test reads from $SERVAL_TEST_OUT, and
-- waits that yield to Neovim's main loop. Waits run inside a coroutine and
-- are bounded. Loaded by each scenario with dofile from its own folder.
local M = {}

local out_path = assert(vim.env.SERVAL_TEST_OUT, 'SERVAL_TEST_OUT')

-- report is written as JSON by write_report; scenarios add their fields.
M.report = { steps = {}, version = vim.fn.matchstr(vim.fn.execute('version'), 'NVIM v\\zs[^\n]*') }

function M.write_report()
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.fn.json_encode(M.report))
  f:close()
end

function M.step(name)
  table.insert(M.report.steps, name)
end

-- sleep lets the main loop run for ms (autocmds, LSP messages, timers).
function M.sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    assert(coroutine.resume(co))
  end, ms)
  coroutine.yield()
end

-- wait_for polls cond until it returns a true value, which it returns. An
-- error raised by cond counts as "not yet" (the state it reads may be
-- half-built); the last one is named if the wait times out.
function M.wait_for(what, timeout_ms, cond)
  local waited, last_err = 0, nil
  while true do
    local ok, value = pcall(cond)
    if ok and value then
      return value
    end
    if not ok then
      last_err = value
    end
    if waited >= timeout_ms then
      local why = last_err and (' (last error: ' .. tostring(last_err) .. ')') or ''
      error(string.format('timed out after %d ms waiting for %s%s', timeout_ms, what, why), 0)
    end
    M.sleep(25)
    waited = waited + 25
  end
end

return M
