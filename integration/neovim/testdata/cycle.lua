-- Cycling scenario for serval.nvim, run as
--   nvim --headless -u NONE -i NONE -c 'luafile cycle.lua' FILE
-- with SERVAL_NVIM_PLUGIN, SERVAL_AGENT, SERVAL_TEST_ENDPOINT/SERVAL_TEST_TOKEN,
-- SERVAL_TEST_OUT, SERVAL_TEST_LINE and SERVAL_TEST_TYPE as for headless.lua.
--
-- It types until ghost text shows (one item, triggerKind Automatic), asks
-- the agent itself for the explicit candidates at the cursor (triggerKind
-- Invoked: what survived the agent's post-processing and de-duplication),
-- then presses the default cycle keys <M-]>, <M-]>, <M-[> and records what
-- each shows, and accepts the shown candidate with <Tab>. The Go test
-- compares. Every wait is bounded.
local harness = dofile(debug.getinfo(1, 'S').source:sub(2):match('^(.*[/\\])') .. 'harness.lua')
local report, write_report, step, sleep, wait_for =
  harness.report, harness.write_report, harness.step, harness.sleep, harness.wait_for

vim.opt.runtimepath:prepend(assert(vim.env.SERVAL_NVIM_PLUGIN, 'SERVAL_NVIM_PLUGIN'))
vim.cmd('runtime! plugin/serval.lua')
vim.cmd('filetype on')
vim.o.swapfile = false
vim.o.expandtab = false

local serval = require('serval')
local compat = require('serval.compat')
local has012 = vim.fn.has('nvim-0.12') == 1

-- Ghost text as drawn (virt_text and virt_lines joined), and on 0.12 the
-- built-in's "(i/n)" hint apart.
local function drawn()
  local ns = has012 and vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion'] or require('serval.ghost').namespace
  local marks = ns and vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true }) or {}
  if #marks == 0 then
    return nil
  end
  local d = marks[1][4]
  local hint = ''
  local function join(chunks)
    local parts = {}
    for _, chunk in ipairs(chunks or {}) do
      if chunk[2] == 'ComplHintMore' then
        hint = chunk[1]
      else
        table.insert(parts, chunk[1])
      end
    end
    return table.concat(parts)
  end
  local lines = { join(d.virt_text) }
  for _, vl in ipairs(d.virt_lines or {}) do
    table.insert(lines, join(vl))
  end
  local text = table.concat(lines, '\n')
  if text == '' then
    return nil
  end
  return { text = text, hint = hint }
end

local function type_text(text)
  for ch in text:gmatch('[%z\1-\127\194-\244][\128-\191]*') do
    vim.api.nvim_input(ch == '<' and '<lt>' or ch)
    sleep(40)
  end
end

-- The explicit candidates at the cursor, as the agent answers them, each as
-- it shows after the cursor: its text less what the line already has from
-- the item's start to the cursor.
local function explicit_candidates(client)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 1 }
  local answer
  compat.request(client, 'textDocument/inlineCompletion', params, function(err, result)
    answer = { err = err, result = result }
  end, 0)
  wait_for('the agent to answer the explicit request', 30000, function() return answer end)
  assert(not answer.err, vim.inspect(answer.err))
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local line = vim.api.nvim_get_current_line()
  local texts = {}
  for _, item in ipairs(answer.result and (answer.result.items or answer.result) or {}) do
    local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
    if item.range then
      assert(item.range.start.line == row - 1, 'an item starting on another line')
      local typed = line:sub(item.range.start.character + 1, col) -- ASCII: UTF-16 = bytes
      assert(text:sub(1, #typed) == typed, 'an item that does not start with the typed text')
      text = text:sub(#typed + 1)
    end
    table.insert(texts, text)
  end
  return texts
end

-- Press a key and wait until the ghost text shows want.
local function press(key, want, what)
  vim.api.nvim_input(key)
  local ok, err = pcall(wait_for, what, 30000, function()
    local g = drawn()
    return g and g.text == want and g
  end)
  local g = drawn()
  report.shown = report.shown or {}
  table.insert(report.shown, g and g.text or '')
  report.hints = report.hints or {}
  table.insert(report.hints, g and g.hint or '')
  if not ok then
    error(err .. ': showing ' .. vim.inspect(g and g.text) .. ', want ' .. vim.inspect(want), 0)
  end
end

local function scenario()
  serval.setup({ cmd = { vim.env.SERVAL_AGENT }, endpoint = vim.env.SERVAL_TEST_ENDPOINT, token = vim.env.SERVAL_TEST_TOKEN })
  local client = wait_for('the agent to attach', 15000, function() return compat.clients(0, 'serval')[1] end)
  wait_for('serval/status ready', 15000, function() return serval.status() == 'ready' end)
  step('ready')

  vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.SERVAL_TEST_LINE), 0 })
  vim.api.nvim_input('A')
  sleep(50)
  type_text(vim.env.SERVAL_TEST_TYPE)
  report.automatic = wait_for('ghost text while typing', 30000, drawn).text
  step('ghost')

  local c = explicit_candidates(client)
  report.candidates = c
  step('candidates')
  if #c < 2 then
    return -- the Go test says so
  end
  -- Typing left one item; the first cycle key asks for the candidates and
  -- shows the second, the next the third (or the first again), the
  -- previous-key the second again.
  press('<M-]>', c[2], 'the second candidate after <M-]>')
  press('<M-]>', c[3] or c[1], 'the next candidate after a second <M-]>')
  press('<M-[>', c[2], 'the second candidate again after <M-[>')
  step('cycled')

  report.before = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local pos = vim.api.nvim_win_get_cursor(0)
  report.cursor = { pos[1] - 1, pos[2] }
  local before = table.concat(report.before, '\n')
  vim.api.nvim_input('<Tab>')
  wait_for('Tab to insert the candidate', 5000, function()
    return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') ~= before and not drawn()
  end)
  report.after = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  step('accepted')
  vim.api.nvim_input('<Esc>')
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
