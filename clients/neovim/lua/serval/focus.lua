-- serval.focus: tells the agent where the user looks (serval/didFocus), so
-- that it has the server evaluate the prompt of that place before the first
-- keystroke there (the agent's warm-up, docs/agent.md). Reported, once the
-- cursor has rested rest_ms: entering a buffer, and a jump in normal mode
-- (the cursor leaving the lines around the last reported place: a search, a
-- mark, gg/G, go to definition). Moves that follow an edit (the buffer's
-- changedtick moved: typing, dd, p) and steps to a neighbouring line are not
-- jumps; insert mode is typing.
local compat = require('serval.compat')

local M = {}

M.method = 'serval/didFocus'

-- How long the cursor must rest before the report is sent.
M.rest_ms = 100

-- buffers[bufnr] = { client_id, tick }: the attached buffers and the
-- changedtick seen at their last cursor event.
local buffers = {}
-- last = { bufnr, row }: the last reported place.
local last = nil
local timer = nil
-- enabled tells whether completions are on (serval.toggle).
local enabled = function()
  return true
end

local function stop_timer()
  if timer then
    timer:stop()
  end
end

local function report(bufnr)
  local st = buffers[bufnr]
  if not st or not enabled() or vim.api.nvim_get_current_buf() ~= bufnr then
    return -- another buffer is current now: its BufEnter reports it
  end
  local client = vim.lsp.get_client_by_id(st.client_id)
  if not client or compat.is_stopped(client) then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  last = { bufnr = bufnr, row = params.position.line }
  compat.notify(client, M.method, { textDocument = params.textDocument, position = params.position })
end

-- schedule reports bufnr's cursor once it has rested M.rest_ms.
local function schedule(bufnr)
  timer = timer or (vim.uv or vim.loop).new_timer()
  timer:stop()
  timer:start(M.rest_ms, 0, vim.schedule_wrap(function()
    report(bufnr)
  end))
end

local function on_moved(bufnr)
  local st = buffers[bufnr]
  if not st then
    return
  end
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  if tick ~= st.tick then
    -- The cursor moved with an edit: no jump.
    st.tick = tick
    stop_timer()
    last = { bufnr = bufnr, row = row }
    return
  end
  if last and last.bufnr == bufnr and math.abs(last.row - row) <= 1 then
    stop_timer()
    last = { bufnr = bufnr, row = row }
    return
  end
  schedule(bufnr)
end

--- Report focus changes in `bufnr` to the agent `client`; `is_enabled`
--- says whether completions are on.
function M.attach(client, bufnr, is_enabled)
  enabled = is_enabled or enabled
  if buffers[bufnr] then
    buffers[bufnr].client_id = client.id
    return
  end
  buffers[bufnr] = { client_id = client.id, tick = vim.api.nvim_buf_get_changedtick(bufnr) }
  local group = vim.api.nvim_create_augroup('serval_focus_' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd('BufEnter', {
    group = group,
    buffer = bufnr,
    callback = function()
      local st = buffers[bufnr]
      if st then
        st.tick = vim.api.nvim_buf_get_changedtick(bufnr)
        schedule(bufnr)
      end
    end,
  })
  vim.api.nvim_create_autocmd('CursorMoved', {
    group = group,
    buffer = bufnr,
    callback = function()
      on_moved(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI', 'InsertEnter' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      -- Typing: a report still waiting would only warm a place being edited.
      stop_timer()
      local st = buffers[bufnr]
      if st then
        st.tick = vim.api.nvim_buf_get_changedtick(bufnr)
      end
    end,
  })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      M.detach(bufnr)
    end,
  })
  -- The buffer the user is in when the agent attaches (the file Neovim was
  -- started with) gets no BufEnter of its own.
  if vim.api.nvim_get_current_buf() == bufnr then
    schedule(bufnr)
  end
end

function M.detach(bufnr)
  if not buffers[bufnr] then
    return
  end
  buffers[bufnr] = nil
  if last and last.bufnr == bufnr then
    last = nil
  end
  pcall(vim.api.nvim_del_augroup_by_name, 'serval_focus_' .. bufnr)
end

return M
