-- serval.health: `:checkhealth serval`. Checks what a first start needs, in
-- order: the agent binary (found, runnable, its version), the server as the
-- running agent sees it (reachable, token accepted, model loaded), and what
-- this Neovim offers (built-in inline completion, or serval's own ghost text).
local M = {}

local h = vim.health or require('health')
local start = h.start or h.report_start
local ok = h.ok or h.report_ok
local warn = h.warn or h.report_warn
local error = h.error or h.report_error
local info = h.info or h.report_info

local function trim(s)
  return (s:gsub('^%s+', ''):gsub('%s+$', ''))
end

local function check_agent(serval)
  start('serval-agent')
  local cmd = serval.lsp_config().cmd
  if type(cmd) ~= 'table' then
    info('the agent is started by a function (cmd); not checked')
    return
  end
  local exe = vim.fn.exepath(cmd[1])
  if exe == '' then
    error(serval.missing_agent_message(cmd[1]))
    return
  end
  ok('found: ' .. exe)
  local out = vim.fn.system({ exe, '--version' })
  if vim.v.shell_error ~= 0 then
    error(string.format('`%s --version` failed (exit %d): %s', exe, vim.v.shell_error, trim(out)),
      { 'rebuild it with `make build`, or point cmd at a working serval-agent' })
    return
  end
  ok('runs: ' .. trim(out))
end

-- wait_status waits (at most 5 s) for a running agent to leave "starting".
local function wait_status(serval)
  local kind, st = serval.status()
  if kind == 'starting' then
    vim.wait(5000, function()
      kind, st = serval.status()
      return kind ~= 'starting'
    end, 50)
  end
  return kind, st
end

local function check_server(serval)
  start('server (as the running agent sees it)')
  local kind, st = wait_status(serval)
  local message = st and st.message and (': ' .. st.message) or ''
  if kind == 'not running' then
    local why = serval.not_running_reason()
    warn('the agent is not running' .. (why ~= '' and (': ' .. why) or ''),
      { 'open a file after require("serval").setup{}, then run :checkhealth serval again' })
    return
  end
  if kind == 'off' then
    info('completions are off (:ServalToggle); the agent still runs')
    kind = st and (st.kind or st.status) or 'starting'
  end
  if kind == 'starting' then
    warn('the agent has not reported a status within 5 s' .. message)
  elseif kind == 'disconnected' then
    error('server not reachable' .. message)
  elseif kind == 'unauthorized' then
    ok('server reachable')
    error('token rejected' .. message)
  elseif kind == 'noModel' then
    ok('server reachable')
    ok('token accepted')
    error('no model loaded' .. message)
  else
    ok('server reachable')
    ok('token accepted')
    ok('model loaded')
    if kind ~= 'ready' then
      warn('status: ' .. kind .. message)
    end
  end
end

local function check_neovim()
  start('Neovim')
  local version = vim.fn.matchstr(vim.fn.execute('version'), 'NVIM v\\zs[^\n]*')
  if vim.fn.has('nvim-0.12') == 1 and vim.lsp.inline_completion then
    ok('Neovim ' .. version .. ': built-in inline completion (vim.lsp.inline_completion)')
  else
    ok('Neovim ' .. version .. ': no built-in inline completion API (0.12+); serval draws the ghost text itself')
  end
  if vim.fn.hlexists('ServalSuggestion') == 1 then
    ok('highlight group ServalSuggestion is defined (ghost text colour)')
  else
    warn('highlight group ServalSuggestion is missing', { 'call require("serval").setup{}' })
  end
end

function M.check()
  local serval = require('serval')
  check_agent(serval)
  check_server(serval)
  check_neovim()
end

return M
