-- Headless :ServalSignIn scenario, run as
--   nvim --headless -u NONE -i NONE -c 'luafile signin.lua' FILE
-- with SERVAL_NVIM_PLUGIN, SERVAL_AGENT, SERVAL_TEST_ENDPOINT (no token
-- anywhere), SERVAL_TEST_OPENED (where the "browser" link is written for the
-- Go test, which approves it as the user) and SERVAL_TEST_OUT (the report).
--
-- The agent starts unauthorized; :ServalSignIn shows the code and opens the
-- link (vim.ui.open is replaced by one that hands the link to the Go test);
-- after the approval the agent is ready, the token file is 0600, and a
-- restarted agent is ready again from the stored token alone.
local harness = dofile(debug.getinfo(1, 'S').source:sub(2):match('^(.*[/\\])') .. 'harness.lua')
local report, write_report, step, sleep, wait_for =
  harness.report, harness.write_report, harness.step, harness.sleep, harness.wait_for
local opened_path = assert(vim.env.SERVAL_TEST_OPENED, 'SERVAL_TEST_OPENED')

vim.opt.runtimepath:prepend(assert(vim.env.SERVAL_NVIM_PLUGIN, 'SERVAL_NVIM_PLUGIN'))
vim.cmd('runtime! plugin/serval.lua')
vim.cmd('filetype on')
vim.o.swapfile = false

-- The "browser": hand the link to the Go test.
vim.ui = vim.ui or {}
vim.ui.open = function(uri)
  local f = assert(io.open(opened_path .. '.tmp', 'w'))
  f:write(uri)
  f:close()
  assert(os.rename(opened_path .. '.tmp', opened_path)) -- the test never reads half a link
  report.opened = uri
  return true
end
local notices = {}
vim.notify = function(msg)
  table.insert(notices, msg)
end

local serval = require('serval')
local signin = require('serval.signin')

local function status()
  return (serval.status())
end

coroutine.wrap(function()
  local ok, err = pcall(function()
    serval.setup({ cmd = { assert(vim.env.SERVAL_AGENT) }, endpoint = assert(vim.env.SERVAL_TEST_ENDPOINT) })
    wait_for('the unauthorized status', 30000, function() return status() == 'unauthorized' end)
    step('unauthorized')

    vim.cmd('ServalSignIn')
    wait_for('the browser to be opened', 30000, function() return report.opened end)
    step('opened')
    report.code_shown = wait_for('the code in a notice', 5000, function()
      for _, n in ipairs(notices) do
        if signin.last_prompt and n:find(signin.last_prompt.code, 1, true) then
          return n
        end
      end
    end)
    wait_for('the ready status after the approval', 90000, function() return status() == 'ready' end)
    step('ready')
    local st = (vim.uv or vim.loop).fs_stat(signin.token_path())
    report.token_mode = st and string.format('%o', st.mode % 512) or 'missing'
    report.token_prefix = (signin.stored_token() or ''):sub(1, 4)

    -- A new agent gets the stored token through initializationOptions.
    for _, client in ipairs(require('serval.compat').all_clients('serval')) do
      vim.lsp.stop_client(client.id)
    end
    wait_for('the agent to stop', 10000, function() return status() == 'not running' end)
    serval.start(0)
    wait_for('the restarted agent to be ready', 30000, function() return status() == 'ready' end)
    step('ready-after-restart')
  end)
  if not ok then
    report.error = tostring(err)
  end
  report.notices = notices
  write_report()
  vim.cmd('qa!')
end)()
