-- serval.signin: :ServalSignIn, signing Neovim in to the server without a
-- token to copy. The agent runs the device authorization (RFC 8628, see
-- docs/agent.md): its serval/signIn notification carries a code, shown here
-- and opened in the browser with vim.ui.open (0.10+); once the user approved
-- it on the server's page, the agent's answer carries a new token, kept in a
-- 0600 file (token_path()) and passed to the agent as server.token, now
-- through workspace/didChangeConfiguration and at every start through
-- initializationOptions.
local compat = require('serval.compat')

local M = {}

local uv = vim.uv or vim.loop

--- Where the token is kept: stdpath('data')/serval/token.
function M.token_path()
  return vim.fn.stdpath('data') .. '/serval/token'
end

--- The stored token, or nil.
function M.stored_token()
  local f = io.open(M.token_path(), 'r')
  if not f then
    return nil
  end
  local token = vim.trim(f:read('*a') or '')
  f:close()
  return token ~= '' and token or nil
end

-- store writes the token readable by this user only: the file is created
-- 0600 (never a wider mode, whatever the umask), written, then renamed over
-- the old one.
local function store(token)
  local path = M.token_path()
  vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p', 448) -- 0700
  local tmp = path .. '.tmp'
  os.remove(tmp)
  local fd, err = uv.fs_open(tmp, 'wx', 384) -- 0600
  if not fd then
    return false, err
  end
  local _, werr = uv.fs_write(fd, token .. '\n', 0)
  uv.fs_chmod(tmp, 384)
  uv.fs_close(fd)
  if werr then
    os.remove(tmp)
    return false, werr
  end
  local ok, rerr = os.rename(tmp, path)
  if not ok then
    return false, rerr
  end
  return true
end

--- Forget the stored token.
function M.forget()
  os.remove(M.token_path())
end

local function say(msg, level)
  vim.schedule(function()
    vim.notify(msg, level or vim.log.levels.INFO, { title = 'serval' })
  end)
end

--- The serval/signIn notification: show the code and open the page.
function M.on_prompt(_, params)
  if type(params) ~= 'table' or type(params.userCode) ~= 'string' then
    return
  end
  local uri = params.verificationUriComplete or params.verificationUri
  if type(uri) ~= 'string' or not uri:match('^https?://') then
    return
  end
  M.last_prompt = { code = params.userCode, uri = uri }
  say(string.format('serval: approve the code %s in your browser: %s (it expires in %d minutes)',
    params.userCode, uri, math.floor((tonumber(params.expiresIn) or 600) / 60)), vim.log.levels.WARN)
  if vim.ui and vim.ui.open then
    vim.schedule(function()
      local ok, err = pcall(vim.ui.open, uri)
      if not ok then
        say('serval: could not open the browser (' .. tostring(err) .. '); open the link above', vim.log.levels.WARN)
      end
    end)
  end
end

--- :ServalSignIn: sign in with the running agent.
function M.sign_in()
  local client = compat.all_clients('serval')[1]
  if not client then
    say('serval: no agent is running: open a file first (see :ServalStatus)', vim.log.levels.ERROR)
    return
  end
  say('serval: signing in…')
  compat.request(client, 'workspace/executeCommand', { command = 'serval.signIn', arguments = {} }, function(err, result)
    if err then
      say('serval: sign-in failed: ' .. tostring(err.message or err), vim.log.levels.ERROR)
      return
    end
    if type(result) ~= 'table' or type(result.token) ~= 'string' or result.token == '' then
      say("serval: sign-in failed: the agent's answer has no token", vim.log.levels.ERROR)
      return
    end
    local ok, serr = store(result.token)
    if not ok then
      say('serval: signed in, but the token could not be saved to ' .. M.token_path() .. ': ' .. tostring(serr), vim.log.levels.ERROR)
    end
    compat.notify(client, 'workspace/didChangeConfiguration', { settings = { serval = { server = { token = result.token } } } })
    say(string.format('serval: signed in as %s (token "%s")', tostring(result.user or ''), tostring(result.tokenName or '')))
  end)
end

return M
