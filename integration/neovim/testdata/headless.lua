-- Headless end-to-end scenario for serval.nvim, run as
--   nvim --headless -u NONE -i NONE -c 'luafile headless.lua' FILE
-- with SERVAL_NVIM_PLUGIN (the plugin dir), SERVAL_AGENT (the agent binary),
-- SERVAL_TEST_ENDPOINT/SERVAL_TEST_TOKEN (setup mode) or SERVAL_ENDPOINT/SERVAL_TOKEN,
-- SERVAL_TEST_OUT (where the JSON report goes), SERVAL_TEST_MODE
-- (setup | lspconfig | enable), SERVAL_TEST_LINE (1-based line to type on)
-- and SERVAL_TEST_TYPE (text typed there, one key at a time).
--
-- It types like a person (keys go through nvim_input and the main loop, so
-- autocmds and mappings run as they would), waits for ghost text, reads the
-- extmarks back, accepts with <Tab> and writes the file. The Go test checks
-- the report and the file on disk. Every wait is bounded.
local harness = dofile(debug.getinfo(1, 'S').source:sub(2):match('^(.*[/\\])') .. 'harness.lua')
local report, write_report, step, sleep, wait_for =
  harness.report, harness.write_report, harness.step, harness.sleep, harness.wait_for

-- A 256-colour terminal without true colour: the ghost text must still be dim.
vim.o.termguicolors = false
vim.opt.runtimepath:prepend(assert(vim.env.SERVAL_NVIM_PLUGIN, 'SERVAL_NVIM_PLUGIN'))
vim.cmd('runtime! plugin/serval.lua')
vim.cmd('filetype on')
vim.o.swapfile = false
vim.o.expandtab = false

local serval = require('serval')
local ghost = require('serval.ghost')
local has012 = vim.fn.has('nvim-0.12') == 1
local mode = vim.env.SERVAL_TEST_MODE or 'setup'
local agent = { vim.env.SERVAL_AGENT or 'serval-agent' }

local function start_agent()
  if mode == 'setup' then
    -- Endpoint and token through setup options (initializationOptions);
    -- the other modes leave them to the agent's environment.
    serval.setup({ cmd = agent, endpoint = vim.env.SERVAL_TEST_ENDPOINT, token = vim.env.SERVAL_TEST_TOKEN })
  elseif mode == 'lspconfig' then
    -- nvim-lspconfig is not installable here: give its default_config to
    -- vim.lsp.start exactly as lspconfig would.
    local config = require('serval.lspconfig').default_config({ cmd = agent })
    config.name = 'serval'
    config.root_dir = config.root_dir(vim.api.nvim_buf_get_name(0))
    vim.lsp.start(config)
  elseif mode == 'enable' then
    vim.lsp.config('serval', { cmd = agent })
    vim.lsp.enable('serval')
    vim.cmd('edit') -- re-run FileType so the enabled config attaches
  else
    error('unknown SERVAL_TEST_MODE ' .. mode)
  end
end

-- Ghost text as drawn: the extmarks' virt_text and virt_lines, joined.
local function drawn_ghost()
  local ns
  if has012 then
    ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
  else
    ns = ghost.namespace
  end
  if not ns then
    return nil
  end
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local d = marks[1][4]
  local parts = {}
  for _, chunk in ipairs(d.virt_text or {}) do
    table.insert(parts, chunk[1])
  end
  local lines = { table.concat(parts) }
  for _, vl in ipairs(d.virt_lines or {}) do
    local l = {}
    for _, chunk in ipairs(vl) do
      table.insert(l, chunk[1])
    end
    table.insert(lines, table.concat(l))
  end
  local text = table.concat(lines, '\n')
  if text == '' then
    return nil
  end
  return { text = text, row = marks[1][2], col = marks[1][3], pos = d.virt_text_pos, hl = d.virt_text and d.virt_text[1] and d.virt_text[1][2] }
end

local function buffer_lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

local function type_text(text)
  for ch in text:gmatch('[%z\1-\127\194-\244][\128-\191]*') do
    vim.api.nvim_input(ch == '<' and '<lt>' or ch)
    sleep(40)
  end
end

local function scenario()
  start_agent()
  wait_for('the agent to attach', 15000, function()
    return #require('serval.compat').clients(0, 'serval') > 0
  end)
  step('attached')
  local expect = vim.env.SERVAL_TEST_EXPECT_STATUS
  if expect then
    -- A status other than ready (a wrong token): it reaches the statusline.
    vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.SERVAL_TEST_LINE or '1'), 0 })
    vim.api.nvim_input('A')
    type_text('x') -- a request, in case the agent learns it only from one
    wait_for('serval/status ' .. expect, 15000, function() return serval.status() == expect end)
    report.statusline = serval.statusline()
    report.status_command = vim.fn.execute('ServalStatus')
    step('status')
    vim.api.nvim_input('<Esc>')
    return
  end
  wait_for('serval/status ready', 15000, function()
    return serval.status() == 'ready'
  end)
  report.statusline = serval.statusline()
  report.status_command = vim.fn.execute('ServalStatus')
  step('ready')

  local line = tonumber(vim.env.SERVAL_TEST_LINE or '1')
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  vim.api.nvim_input('A')
  sleep(50)
  type_text(vim.env.SERVAL_TEST_TYPE or '')
  local shown = wait_for('ghost text', 30000, drawn_ghost)
  step('ghost')

  if not has012 then
    -- Moving the cursor dismisses it.
    vim.api.nvim_input('<Left>')
    wait_for('ghost text to go on cursor move', 5000, function() return not drawn_ghost() end)
    vim.api.nvim_input('<Right>')
    step('dismissed-on-move')
    -- The explicit trigger asks for candidates (triggerKind Invoked) ...
    vim.api.nvim_input('<M-\\>')
    wait_for('ghost text on the explicit trigger', 30000, drawn_ghost)
    report.candidates = ghost.count()
    -- ... and the cycle keys go through them.
    local first = drawn_ghost().text
    vim.api.nvim_input('<M-]>')
    sleep(100)
    local cycled = drawn_ghost()
    report.cycled_changed = cycled ~= nil and cycled.text ~= first
    step('triggered')
  end
  -- Leaving Insert mode dismisses it; entering again asks again.
  vim.api.nvim_input('<Esc>')
  wait_for('ghost text to go on <Esc>', 5000, function() return not drawn_ghost() end)
  step('dismissed-on-esc')
  vim.api.nvim_input('A')
  shown = wait_for('ghost text after InsertEnter', 30000, drawn_ghost)
  step('ghost-again')
  report.ghost_again = shown.text

  if not has012 then
    -- Typing the ghost text's first character keeps the rest showing at
    -- once: read in a TextChangedI autocmd defined after the plugin's, so
    -- it runs right after the plugin's own, before the agent could answer
    -- again. Then the key is taken back and the ghost comes back.
    local first_char = shown.text:match('^[%z\1-\127\194-\244][\128-\191]*')
    if first_char and first_char ~= '\n' then
      local line_before = vim.api.nvim_get_current_line()
      local kept
      vim.api.nvim_create_autocmd('TextChangedI', {
        buffer = 0,
        once = true,
        callback = function()
          local g = drawn_ghost()
          kept = g and g.text or ''
        end,
      })
      vim.api.nvim_input(first_char == '<' and '<lt>' or first_char)
      wait_for('the typed key', 5000, function() return kept ~= nil end)
      report.typed_ahead = kept
      report.typed_ahead_char = first_char
      vim.api.nvim_input('<BS>')
      shown = wait_for('ghost text after taking the key back', 30000, function()
        local g = drawn_ghost()
        return g and vim.api.nvim_get_current_line() == line_before and g
      end)
      step('typed-ahead')
    end
  end
  report.ghost = shown.text
  report.ghost_pos = shown.pos
  report.ghost_hl = shown.hl
  -- The cterm colour the ghost text is drawn with ("" = the code's own colour).
  report.ghost_ctermfg = shown.hl and vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID(shown.hl)), 'fg', 'cterm') or ''
  report.ghost_state = has012 and shown.text or ghost.text()
  local pos = vim.api.nvim_win_get_cursor(0)
  report.cursor = { pos[1] - 1, pos[2] }
  report.before = buffer_lines()

  if not has012 then
    -- Accept one word, then the rest with Tab: the buffer must end up the same.
    local first = shown.text
    vim.api.nvim_input('<M-Right>')
    wait_for('a partial accept', 5000, function()
      return table.concat(buffer_lines(), '\n') ~= table.concat(report.before, '\n')
    end)
    report.after_word = buffer_lines()
    local rest = drawn_ghost()
    report.ghost_after_word = rest and rest.text or ''
    step('accept-word')
    if report.ghost_after_word == '' then
      -- The word was all there was: nothing left for Tab.
      report.after = buffer_lines()
    else
      assert(first:sub(-#report.ghost_after_word) == report.ghost_after_word,
        'ghost after accepting a word is not the rest of the suggestion')
    end
  end
  if not report.after then
    local before_tab = table.concat(buffer_lines(), '\n')
    vim.api.nvim_input('<Tab>')
    wait_for('Tab to insert the suggestion', 5000, function()
      return table.concat(buffer_lines(), '\n') ~= before_tab and not drawn_ghost()
    end)
    report.after = buffer_lines()
  end
  local cur = vim.api.nvim_win_get_cursor(0)
  report.cursor_after = { cur[1] - 1, cur[2] }
  step('accepted')

  -- With completions off, Tab falls through and inserts a tab.
  vim.cmd('ServalToggle')
  report.statusline_off = serval.statusline()
  local before_plain = table.concat(buffer_lines(), '\n')
  vim.api.nvim_input('<Tab>')
  wait_for('Tab to fall through', 5000, function()
    return table.concat(buffer_lines(), '\n') ~= before_plain
  end)
  local l = vim.api.nvim_get_current_line()
  report.fallthrough_char = l:sub(cur[2] + 1, cur[2] + 1)
  vim.api.nvim_input('<BS><Esc>')
  sleep(100)
  vim.cmd('ServalToggle')
  step('fallthrough')

  vim.cmd('write')
  step('written')
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
