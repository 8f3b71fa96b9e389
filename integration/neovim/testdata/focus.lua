-- Headless scenario for serval.nvim's focus reports (serval/didFocus), run as
--   nvim --headless -u NONE -i NONE -c 'luafile focus.lua' FILE
-- with SERVAL_NVIM_PLUGIN, SERVAL_AGENT, SERVAL_TEST_ENDPOINT, SERVAL_TEST_TOKEN,
-- SERVAL_TEST_OUT and SERVAL_TEST_OTHER (a second file). It never enters
-- insert mode, so no completion is asked for: every completion request the
-- server answers is the agent's warm-up for a place the plugin reported. It
-- reads the server's count of them from /metrics after each move: the file
-- Neovim started with, a jump (G), a step to the next line (none), another
-- buffer. Every wait is bounded.
local harness = dofile(debug.getinfo(1, 'S').source:sub(2):match('^(.*[/\\])') .. 'harness.lua')
local report, write_report, step, sleep, wait_for =
  harness.report, harness.write_report, harness.step, harness.sleep, harness.wait_for

vim.opt.runtimepath:prepend(assert(vim.env.SERVAL_NVIM_PLUGIN, 'SERVAL_NVIM_PLUGIN'))
vim.cmd('runtime! plugin/serval.lua')
vim.cmd('filetype on')
vim.o.swapfile = false

local endpoint = assert(vim.env.SERVAL_TEST_ENDPOINT, 'SERVAL_TEST_ENDPOINT')
local token = assert(vim.env.SERVAL_TEST_TOKEN, 'SERVAL_TEST_TOKEN')
local uv = vim.uv or vim.loop

-- warmups is the server's count of answered completion requests, read from
-- /metrics over a plain HTTP/1.0 request (nothing to install).
local route = 'serval_http_request_duration_seconds_count{code="200",route="POST /v1/completions"}'
local function warmups()
  local host, port = endpoint:match('^http://([%d%.]+):(%d+)')
  local co = coroutine.running()
  local tcp = uv.new_tcp()
  local chunks, finished = {}, false
  local function done(err)
    if finished then
      return
    end
    finished = true
    tcp:close()
    vim.schedule(function()
      assert(coroutine.resume(co, err))
    end)
  end
  tcp:connect(host, tonumber(port), function(err)
    if err then
      return done(err)
    end
    tcp:write('GET /metrics HTTP/1.0\r\nHost: ' .. host .. '\r\nAuthorization: Bearer ' .. token .. '\r\n\r\n')
    tcp:read_start(function(rerr, data)
      if rerr then
        return done(rerr)
      end
      if data then
        table.insert(chunks, data)
      else
        done(nil)
      end
    end)
  end)
  local err = coroutine.yield()
  assert(not err, err)
  local body = table.concat(chunks)
  local start = body:find(route, 1, true)
  if not start then
    return 0
  end
  return tonumber(body:sub(start + #route):match('^%s+([%d%.e+]+)')) or 0
end

-- warmed waits (bounded) until the server has answered n warm-ups.
local function warmed(what, n)
  for _ = 1, 120 do
    local got = warmups()
    if got >= n then
      step(what)
      return
    end
    sleep(250)
  end
  error(string.format('%s: the server answered %d warm-ups in 30 s, want %d', what, warmups(), n), 0)
end

local function scenario()
  require('serval').setup({ cmd = { vim.env.SERVAL_AGENT }, endpoint = endpoint, token = token })
  wait_for('the agent to attach', 20000, function()
    return #require('serval.compat').clients(0, 'serval') > 0
  end)
  warmed('warmed-on-open', 1)
  vim.cmd('normal! G')
  warmed('warmed-on-jump', 2)
  vim.cmd('normal! k')
  sleep(1000)
  report.after_step = warmups()
  vim.cmd('edit ' .. vim.fn.fnameescape((assert(vim.env.SERVAL_TEST_OTHER, 'SERVAL_TEST_OTHER'))))
  warmed('warmed-on-enter', 3)
end

local co = coroutine.create(function()
  local ok, err = xpcall(scenario, debug.traceback)
  if not ok then
    report.error = tostring(err)
  end
  write_report()
  vim.cmd('qall!')
end)
vim.defer_fn(function()
  assert(coroutine.resume(co))
end, 10)
