-- What a newcomer meets in Neovim when something is wrong, run as
--   nvim --headless -u NONE -i NONE -c 'luafile newcomer.lua' FILE
-- with SERVAL_NVIM_PLUGIN, SERVAL_AGENT, SERVAL_TEST_ENDPOINT and
-- SERVAL_TEST_TOKEN (a running server and a good token),
-- SERVAL_TEST_DEAD_ENDPOINT (nothing listens there) and SERVAL_TEST_OUT.
--
-- Phases, each with the plugin's notifications recorded: the agent missing,
-- a wrong token (with typing: still one notification), the server down, and
-- all well; :checkhealth serval and :ServalStatus read in between. Every
-- wait is bounded; the Go test checks the JSON report.
local harness = dofile(debug.getinfo(1, 'S').source:sub(2):match('^(.*[/\\])') .. 'harness.lua')
local report, write_report, step, sleep, wait_for =
  harness.report, harness.write_report, harness.step, harness.sleep, harness.wait_for

local notes = {}
vim.notify = function(msg, level)
  table.insert(notes, { msg = tostring(msg), level = level or 0 })
end

vim.opt.runtimepath:prepend(assert(vim.env.SERVAL_NVIM_PLUGIN, 'SERVAL_NVIM_PLUGIN'))
vim.cmd('runtime! plugin/serval.lua')
vim.cmd('filetype on')
vim.o.swapfile = false

local serval = require('serval')
local compat = require('serval.compat')
local agent = assert(vim.env.SERVAL_AGENT, 'SERVAL_AGENT')

local function status_command()
  return vim.fn.execute('ServalStatus')
end

local function checkhealth()
  vim.cmd('checkhealth serval')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  vim.cmd('bwipeout!')
  return text
end

-- phase starts the agent with opts (through setup, as a user would) after
-- stopping any running one, and returns the notifications it caused.
local function stop_agents()
  for _, client in ipairs(compat.all_clients('serval')) do
    vim.lsp.stop_client(client.id)
  end
  wait_for('the agent to stop', 10000, function()
    return #compat.all_clients('serval') == 0
  end)
end

local function notes_since(n)
  local out = {}
  for i = n + 1, #notes do
    table.insert(out, notes[i].msg)
  end
  return out
end

local function wait_kind(kind)
  wait_for('status ' .. kind, 30000, function()
    return serval.status() == kind
  end)
end

local function main()
  -- 1. The agent is missing: one notification, and :ServalStatus says why.
  local n = #notes
  serval.setup({ cmd = { vim.fn.getcwd() .. '/no-such-dir/serval-agent' } })
  vim.cmd('edit')
  vim.cmd('edit') -- a second buffer event: no second notification
  sleep(300)
  report.missing_notes = notes_since(n)
  report.missing_status = status_command()
  report.missing_messages = vim.fn.execute('messages')
  table.insert(report.steps, 'missing')

  -- 2. A wrong token: one notification, however much is typed.
  n = #notes
  serval.setup({ cmd = { agent }, endpoint = vim.env.SERVAL_TEST_ENDPOINT, token = 'srv_not_a_real_token' })
  vim.cmd('edit')
  wait_kind('unauthorized')
  vim.api.nvim_win_set_cursor(0, { 4, 0 })
  vim.api.nvim_input('A')
  for _, ch in ipairs({ 'r', 'e', 't', 'u', 'r', 'n' }) do
    vim.api.nvim_input(ch)
    sleep(100)
  end
  vim.api.nvim_input('<Esc>')
  sleep(1500)
  report.unauthorized_notes = notes_since(n)
  report.unauthorized_health = checkhealth()
  vim.cmd('silent! undo')
  table.insert(report.steps, 'unauthorized')

  -- 3. The server is down.
  stop_agents()
  n = #notes
  serval.setup({ cmd = { agent }, endpoint = vim.env.SERVAL_TEST_DEAD_ENDPOINT, token = vim.env.SERVAL_TEST_TOKEN })
  vim.cmd('edit')
  wait_kind('disconnected')
  sleep(1500)
  report.disconnected_notes = notes_since(n)
  report.disconnected_status = status_command()
  table.insert(report.steps, 'disconnected')

  -- 4. All well: ready again, and a health check with every line OK.
  stop_agents()
  n = #notes
  serval.setup({ cmd = { agent }, endpoint = vim.env.SERVAL_TEST_ENDPOINT, token = vim.env.SERVAL_TEST_TOKEN })
  vim.cmd('edit')
  wait_kind('ready')
  sleep(300)
  report.ready_notes = notes_since(n)
  report.ready_health = checkhealth()
  table.insert(report.steps, 'ready')

  -- 5. The ghost text's highlight group, as each kind of terminal resolves it.
  local id = vim.fn.synIDtrans(vim.fn.hlID('ServalSuggestion'))
  report.hl_cterm = vim.fn.synIDattr(id, 'fg', 'cterm')
  report.hl_gui = vim.fn.synIDattr(id, 'fg#', 'gui')
  report.hl_link_free = vim.fn.synIDattr(id, 'name')
  vim.cmd('colorscheme default') -- clears highlights: the group comes back
  report.hl_after_colorscheme = vim.fn.hlexists('ServalSuggestion') == 1 and vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID('ServalSuggestion')), 'fg', 'cterm') or ''
  report.hl_option = serval.options.hl_group
  table.insert(report.steps, 'highlight')
end

local co = coroutine.create(function()
  local ok, err = pcall(main)
  if not ok then
    report.error = tostring(err)
  end
  write_report()
  stop_agents()
  vim.cmd('qa!')
end)
assert(coroutine.resume(co))
