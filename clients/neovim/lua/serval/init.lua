-- serval: Neovim client for serval-agent, Serval's LSP completion agent.
--
-- require('serval').setup{} starts the agent for every file buffer and shows
-- its inline completions as ghost text: drawn by serval.ghost on Neovim
-- 0.7-0.11, by the built-in vim.lsp.inline_completion from 0.12. The agent
-- can also be started by nvim-lspconfig (serval.lspconfig) or by 0.11+'s
-- vim.lsp.config/vim.lsp.enable (lsp/serval.lua); the ghost text, keys and
-- status then attach through LspAttach the same way.
local compat = require('serval.compat')
local focus = require('serval.focus')
local ghost = require('serval.ghost')
local signin = require('serval.signin')

local M = {}

M.name = 'serval'

local defaults = {
  -- The agent command; default: $SERVAL_AGENT, else the plugin's bin/<os>-<arch>/serval-agent,
  -- else serval-agent on PATH.
  cmd = nil,
  -- Server endpoint and token; nil leaves them to the agent's environment
  -- (SERVAL_ENDPOINT, SERVAL_TOKEN) and configuration file.
  endpoint = nil,
  token = nil,
  -- Filetypes to attach to; nil = every buffer backed by a file.
  filetypes = nil,
  -- Request completions while typing (false: only on the trigger key).
  auto_trigger = true,
  -- Start the agent from setup(); false when lspconfig or vim.lsp.enable does.
  start = true,
  -- vim.notify once when the agent cannot work (not found, exited,
  -- unauthorized, disconnected, no model) and once when it recovers.
  notify = true,
  hl_group = 'ServalSuggestion',
  keymaps = {
    accept = '<Tab>',
    accept_word = '<M-Right>',
    accept_line = '<M-Down>',
    dismiss = '<C-]>',
    next = '<M-]>',
    prev = '<M-[>',
    trigger = '<M-\\>',
  },
}

M.options = vim.deepcopy(defaults)

-- Last serval/status the agent sent, per client id.
local statuses = {}

-- Where the token the agent was given comes from, for the unauthorized message.
local token_source = nil

-- Why no agent is running ("" when none failed), for :ServalStatus.
local not_running_reason = ''

-- Statuses the user has to act on; each is announced once when entered.
local trouble = { unauthorized = true, disconnected = true, noModel = true }
local last_announced -- the kind last announced, across clients

local function notify(msg, level)
  if M.options.notify == false then
    return
  end
  vim.schedule(function()
    vim.notify(msg, level or vim.log.levels.WARN, { title = 'serval' })
  end)
end

-- announce tells the user about a change of state that needs them: once per
-- change, never per keystroke (the agent sends serval/status only on changes,
-- and a repeated kind is not announced again).
-- The endpoint the agent talks to, as the user would name it.
local function endpoint_name()
  local e = M.options.endpoint or vim.env.SERVAL_ENDPOINT
  return (e and e ~= '') and e or "agent.toml's endpoint"
end

--- One short Neovim line for a state that needs the user: a longer one, or
--- several, stops Neovim with "Press ENTER". The agent's own message speaks
--- to every editor; the full reason is in :ServalStatus.
function M.trouble_message(kind, message)
  if kind == 'unauthorized' then
    return string.format('serval: token from %s refused: :ServalSignIn or a web app token', token_source or 'nowhere')
  elseif kind == 'disconnected' then
    return string.format('serval: disconnected: is serval running at %s?', endpoint_name())
  end
  return string.format('serval: %s: %s', kind, (message or ''):gsub('\n.*', ''))
end

local function announce(kind, message)
  if trouble[kind] then
    if last_announced ~= kind then
      last_announced = kind
      notify(M.trouble_message(kind, message), vim.log.levels.WARN)
    end
  elseif kind == 'ready' and last_announced and last_announced ~= 'ready' then
    last_announced = 'ready'
    notify('serval: ready again', vim.log.levels.INFO)
  end
end

-- agent_failed records why the agent is not running and says so once.
local function agent_failed(reason)
  if reason ~= not_running_reason then
    not_running_reason = reason
    notify('serval: ' .. reason, vim.log.levels.ERROR)
  end
end

-- This machine in Go's names (the release archives' bin/<os>-<arch>/ folders).
function M.platform()
  local uname = (vim.uv or vim.loop).os_uname()
  local os = uname.sysname:lower()
  if os:find('windows') or os:find('mingw') then
    os = 'windows'
  end
  local machine = uname.machine:lower()
  local arch = ({ x86_64 = 'amd64', amd64 = 'amd64', x64 = 'amd64', aarch64 = 'arm64', arm64 = 'arm64' })[machine]
  return os .. '-' .. (arch or machine)
end

-- The plugin's root folder (this file is <root>/lua/serval/init.lua).
local plugin_root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h:h')

-- The agent command: opts.cmd, else $SERVAL_AGENT, else the agent for this
-- platform placed in the plugin (<root>/bin/<os>-<arch>/serval-agent[.exe],
-- the release archives' names), else serval-agent on PATH.
function M.agent_cmd(opts)
  if opts.cmd then
    return opts.cmd
  end
  if vim.env.SERVAL_AGENT and vim.env.SERVAL_AGENT ~= '' then
    return { vim.env.SERVAL_AGENT }
  end
  local platform = M.platform()
  local exe = platform:find('^windows') and 'serval-agent.exe' or 'serval-agent'
  local bundled = plugin_root .. '/bin/' .. platform .. '/' .. exe
  if vim.fn.executable(bundled) == 1 then
    return { bundled }
  end
  return { exe }
end

local agent_cmd = M.agent_cmd

-- M.binary_platform reads the platform an executable is built for from its
-- header (ELF, PE or Mach-O) in M.platform()'s names; 'darwin-universal' for a
-- universal Mach-O, nil for anything else (a script, an unreadable file).
function M.binary_platform(file)
  local f = io.open(file, 'rb')
  if not f then
    return nil
  end
  local head = f:read(512) or ''
  f:close()
  local function u16(o)
    local a, b = head:byte(o + 1, o + 2)
    return b and a + b * 256 or -1
  end
  local function u32(o)
    local a, b, c, d = head:byte(o + 1, o + 4)
    return d and a + b * 256 + c * 65536 + d * 16777216 or -1
  end
  if head:sub(1, 4) == '\127ELF' then
    local m = u16(18)
    return 'linux-' .. (({ [62] = 'amd64', [183] = 'arm64' })[m] or ('machine' .. m))
  end
  if head:sub(1, 2) == 'MZ' then
    local pe = u32(0x3c)
    if pe > 0 and u32(pe) == 0x4550 then
      local m = u16(pe + 4)
      return 'windows-' .. (({ [0x8664] = 'amd64', [0xaa64] = 'arm64' })[m] or ('machine' .. m))
    end
    return nil
  end
  if u32(0) == 0xfeedfacf then
    local cpu = u32(4)
    return 'darwin-' .. (({ [0x01000007] = 'amd64', [0x0100000c] = 'arm64' })[cpu] or ('cpu' .. cpu))
  end
  if head:sub(1, 4) == '\202\254\186\190' then
    return 'darwin-universal'
  end
  return nil
end

-- M.is_quarantined says whether macOS marked file as downloaded
-- (com.apple.quarantine: `xattr -p` exits 0); asked on macOS only. Tests
-- replace it, as the VS Code extension's tests inject theirs.
function M.is_quarantined(file)
  vim.fn.system({ '/usr/bin/xattr', '-p', 'com.apple.quarantine', file })
  return vim.v.shell_error == 0
end

--- Why the operating system would refuse to start the agent at `exe` (a
--- path, or a name on PATH), or nil: built for another platform (a bare
--- "exec format error" otherwise), or on macOS quarantined by a download
--- (Gatekeeper kills it). Each says what to do.
function M.agent_problem(exe)
  local file = vim.fn.exepath(exe)
  if file == '' then
    file = exe
  end
  local here = M.platform()
  local built = M.binary_platform(file)
  if built and built ~= here and built ~= 'darwin-universal' then
    return string.format(
      'serval-agent %s is built for %s, but this machine is %s. Use the %s build (from the serval-VERSION-%s release '
        .. "archive) in the plugin's bin/%s/ or on PATH, or give its path: require('serval').setup{ cmd = { '/path/to/serval-agent' } }",
      file, built, here, here, here, here)
  end
  if here:find('^darwin') and M.is_quarantined(file) then
    return string.format(
      'macOS has quarantined %s (it came from a download), so Gatekeeper will not let it start. If you trust this copy '
        .. 'of serval-agent, clear the flag in a terminal: xattr -d com.apple.quarantine "%s" and then reopen the file (:e)',
      file, file)
  end
  return nil
end

-- checked_agents holds the agents found startable, so each is checked once.
local checked_agents = {}

-- token_choice is the token to give the agent and where it comes from: the
-- one :ServalSignIn stored (the user's latest act, so it outlives a token in
-- setup{}, e.g. os.getenv("SERVAL_TOKEN"), that the server refuses), else
-- setup{ token }, else nil (the agent's environment or agent.toml).
function M.token_choice(opts)
  local stored = signin.stored_token()
  if stored then
    return stored, ':ServalSignIn'
  end
  if opts.token and opts.token ~= '' then
    return opts.token, 'setup{ token }'
  end
  return nil, '$SERVAL_TOKEN/agent.toml'
end

local function init_options(opts)
  local server = {}
  if opts.endpoint then
    server.endpoint = opts.endpoint
  end
  local token, source = M.token_choice(opts)
  server.token, token_source = token, source
  return {
    server = server,
    editor = { name = 'Neovim', version = vim.fn.matchstr(vim.fn.execute('version'), 'NVIM v\\zs[^\n]*') },
    plugin = { name = 'serval.nvim', version = '0.1.0' },
  }
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  return caps
end

local function on_status(_, result, ctx)
  if type(result) == 'table' and ctx and ctx.client_id then
    statuses[ctx.client_id] = result
    announce(result.kind or result.status, result.message)
    if vim.api.nvim_exec_autocmds then
      pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'ServalStatus', modeline = false })
    end
    -- Statuslines showing M.statusline() are only redrawn on events: make one.
    pcall(vim.cmd, 'redrawstatus!')
  end
end

local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= '' and vim.fn.fnamemodify(name, ':p:h') or vim.fn.getcwd()
  local git = vim.fn.finddir('.git', dir .. ';')
  if git ~= '' then
    return vim.fn.fnamemodify(git, ':p:h:h')
  end
  return dir
end

--- The LSP client configuration for the agent: what vim.lsp.start,
--- vim.lsp.config and nvim-lspconfig are given. `opts` as in setup().
function M.lsp_config(opts)
  opts = vim.tbl_deep_extend('force', M.options, opts or {})
  return {
    name = M.name,
    cmd = agent_cmd(opts),
    filetypes = opts.filetypes,
    init_options = init_options(opts),
    capabilities = capabilities(),
    handlers = { ['serval/status'] = on_status, ['serval/signIn'] = signin.on_prompt },
    -- 0.7 has no LspAttach event: attach from here (harmless twice later).
    on_attach = function(client, bufnr)
      M.attach(client, bufnr)
    end,
    on_exit = function(code, signal)
      if code ~= 0 or (signal or 0) ~= 0 then
        agent_failed(string.format('serval-agent exited (code %d, signal %d); its log is in :LspLog (%s)', code, signal or 0,
          vim.lsp.get_log_path and vim.lsp.get_log_path() or 'lsp.log'))
      end
    end,
  }
end

local function feed(keys, remap)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), remap and 'm' or 'n', false)
end

-- Run what `lhs` did before we mapped it (another plugin's mapping, or the
-- key itself): Tab still inserts a tab when no ghost text is showing.
local function fall_through(lhs, previous)
  if previous and previous.callback then
    local out = previous.callback()
    if previous.expr == 1 and type(out) == 'string' then
      feed(out, previous.noremap ~= 1)
    end
  elseif previous and previous.rhs and previous.rhs ~= '' then
    if previous.expr == 1 then
      feed(vim.api.nvim_eval(previous.rhs), previous.noremap ~= 1)
    else
      feed(previous.rhs, previous.noremap ~= 1)
    end
  else
    feed(lhs, false)
  end
end

local function previous_mapping(lhs, bufnr)
  local found
  vim.api.nvim_buf_call(bufnr, function()
    found = vim.fn.maparg(lhs, 'i', false, true)
  end)
  if type(found) == 'table' and next(found) ~= nil and found.desc ~= 'serval' then
    return found
  end
  return nil
end

local function map(bufnr, lhs, fn)
  if lhs and lhs ~= '' then
    vim.keymap.set('i', lhs, fn, { buffer = bufnr, silent = true, desc = 'serval' })
  end
end

local builtin = compat.has('0.12') and vim.lsp.inline_completion ~= nil

local function set_keymaps(bufnr)
  local keys = M.options.keymaps
  local accept_prev = keys.accept and keys.accept ~= '' and previous_mapping(keys.accept, bufnr) or nil
  if builtin then
    local ic = vim.lsp.inline_completion
    map(bufnr, keys.accept, function()
      if not (M.enabled() and ic.get({ bufnr = bufnr })) then
        fall_through(keys.accept, accept_prev)
      end
    end)
    map(bufnr, keys.next, function() require('serval.builtin').cycle(bufnr, 1) end)
    map(bufnr, keys.prev, function() require('serval.builtin').cycle(bufnr, -1) end)
    map(bufnr, keys.trigger, function() require('serval.builtin').cycle(bufnr, 0) end)
    return
  end
  map(bufnr, keys.accept, function()
    if not ghost.accept(bufnr) then
      fall_through(keys.accept, accept_prev)
    end
  end)
  map(bufnr, keys.accept_word, function() ghost.accept(bufnr, 'word') end)
  map(bufnr, keys.accept_line, function() ghost.accept(bufnr, 'line') end)
  map(bufnr, keys.dismiss, function() ghost.dismiss(bufnr, true) end)
  map(bufnr, keys.next, function() ghost.cycle(bufnr, 1) end)
  map(bufnr, keys.prev, function() ghost.cycle(bufnr, -1) end)
  map(bufnr, keys.trigger, function() ghost.trigger(bufnr) end)
end

local attached = {}

--- Wire ghost text, keys, status and focus reports for the agent `client` in `bufnr`.
--- Called on LspAttach (0.8+) and from on_attach (0.7).
function M.attach(client, bufnr)
  if client.name ~= M.name then
    return
  end
  local key = client.id .. ':' .. bufnr
  if attached[key] then
    return
  end
  attached[key] = true
  if builtin then
    vim.lsp.inline_completion.enable(M.enabled(), { bufnr = bufnr })
  else
    ghost.configure({ auto_trigger = M.options.auto_trigger, hl_group = M.options.hl_group })
    ghost.attach(client, bufnr)
  end
  focus.attach(client, bufnr, M.enabled)
  set_keymaps(bufnr)
end

local function wanted(bufnr)
  if vim.bo[bufnr].buftype ~= '' or vim.api.nvim_buf_get_name(bufnr) == '' then
    return false
  end
  local fts = M.options.filetypes
  if not fts then
    return true
  end
  return vim.tbl_contains(fts, vim.bo[bufnr].filetype)
end

local client_id_07

--- Start (or reuse) the agent for `bufnr`.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not wanted(bufnr) then
    return nil
  end
  local config = M.lsp_config()
  local exe = type(config.cmd) == 'table' and config.cmd[1] or nil
  if exe and vim.fn.executable(exe) ~= 1 then
    agent_failed(M.missing_agent_message(exe))
    return nil
  end
  if exe and not checked_agents[exe] then
    local problem = M.agent_problem(exe)
    if problem then
      agent_failed(problem)
      return nil
    end
    checked_agents[exe] = true
  end
  not_running_reason = ''

  if vim.lsp.start then
    config.root_dir = root_dir(bufnr)
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  -- 0.7: one client for the session, attached to each buffer.
  local client = client_id_07 and vim.lsp.get_client_by_id(client_id_07)
  if not client or compat.is_stopped(client) then
    config.root_dir = root_dir(bufnr)
    client_id_07 = vim.lsp.start_client(config)
  end
  if client_id_07 then
    vim.lsp.buf_attach_client(bufnr, client_id_07)
  end
  return client_id_07
end

local enabled = true

function M.enabled()
  return enabled
end

--- Turn completions on or off (all buffers); returns the new state.
function M.toggle(on)
  if on == nil then
    on = not enabled
  end
  enabled = on
  if builtin then
    for _, client in ipairs(compat.all_clients(M.name)) do
      for bufnr in pairs(client.attached_buffers or {}) do
        vim.lsp.inline_completion.enable(on, { bufnr = bufnr })
      end
    end
  else
    ghost.set_enabled(on)
  end
  return on
end

--- Why the agent `exe` cannot be started, and what to do.
function M.missing_agent_message(exe)
  return string.format(
    "serval-agent not found: %s is not %s. Build it (`make build` puts it in bin/), then put bin/ on PATH, "
      .. "or give its path: require('serval').setup{ cmd = { '/path/to/serval-agent' } } (or $SERVAL_AGENT)",
    exe, exe:find('/') and 'an executable file' or 'on PATH')
end

--- Why the agent is not running, or "" when nothing failed.
function M.not_running_reason()
  return not_running_reason
end

--- The agent's state in a word or two: "off", "not running", or the kind of
--- its last serval/status notification ("ready", "disconnected", ...).
function M.status()
  local clients = compat.all_clients(M.name)
  if #clients == 0 then
    return 'not running', nil
  end
  local st = statuses[clients[1].id]
  local kind = st and (st.kind or st.status) or 'starting'
  if not enabled then
    return 'off', st
  end
  return tostring(kind), st
end

--- For 'statusline': "Serval: ready", "Serval: off", ...
function M.statusline()
  local kind = M.status()
  return 'Serval: ' .. kind
end

local function status_command()
  local kind, st = M.status()
  local lines = { 'serval: ' .. kind }
  if kind == 'not running' then
    table.insert(lines, '  ' .. (not_running_reason ~= '' and not_running_reason
      or 'no file buffer opened yet, or setup{ start = false } without lspconfig / vim.lsp.enable'))
  end
  if st and st.message then
    table.insert(lines, '  ' .. tostring(st.message))
  end
  for _, client in ipairs(compat.all_clients(M.name)) do
    table.insert(lines, string.format('  client %d: %s', client.id, table.concat(client.config.cmd or {}, ' ')))
  end
  table.insert(lines, '  ghost text: ' .. (builtin and 'vim.lsp.inline_completion' or 'serval.ghost'))
  vim.api.nvim_echo({ { table.concat(lines, '\n') } }, false, {})
end

--- Define :ServalStatus, :ServalSignIn, :ServalToggle and the LspAttach hook (idempotent;
--- plugin/serval.lua calls it at startup).
function M.define_commands()
  require('serval.highlight').setup()
  vim.api.nvim_create_user_command('ServalStatus', status_command, { desc = "Show serval-agent's status" })
  vim.api.nvim_create_user_command('ServalSignIn', signin.sign_in,
    { desc = 'Sign in to the Serval server in the browser (no token to copy)' })
  vim.api.nvim_create_user_command('ServalToggle', function()
    local on = M.toggle()
    vim.api.nvim_echo({ { 'serval: completions ' .. (on and 'on' or 'off') } }, false, {})
  end, { desc = 'Turn Serval completions on or off' })
  if compat.has('0.8') then
    local group = vim.api.nvim_create_augroup('serval_attach', { clear = true })
    vim.api.nvim_create_autocmd('LspAttach', {
      group = group,
      callback = function(args)
        local client = vim.lsp.get_client_by_id(args.data.client_id)
        if client then
          M.attach(client, args.buf)
        end
      end,
    })
  end
end

--- Configure and (unless opts.start == false) start the agent for file buffers.
function M.setup(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  M.define_commands()
  if M.options.start == false then
    return
  end
  local group = vim.api.nvim_create_augroup('serval_start', { clear = true })
  vim.api.nvim_create_autocmd({ 'FileType', 'BufReadPost', 'BufNewFile' }, {
    group = group,
    callback = function(args)
      M.start(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      M.start(bufnr)
    end
  end
end

return M
