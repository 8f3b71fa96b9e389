-- serval.ghost: inline completions drawn as ghost text for Neovim 0.7-0.11,
-- which have no built-in textDocument/inlineCompletion support.
--
-- As the user types, it asks the agent for an inline completion (the agent
-- debounces, caches and cancels; this side only keeps one request in flight
-- per buffer), draws the answer with extmarks, and applies it on accept.
-- Shown, accepted and partially accepted items are reported to the agent.
local compat = require('serval.compat')

local M = {}

local ns = vim.api.nvim_create_namespace('serval.ghost')
M.namespace = ns

local TRIGGER_INVOKED = 1
local TRIGGER_AUTOMATIC = 2

-- Per buffer: { client_id, pending = {id, row, col, tick}, items, index,
--               anchor = {row, col}, own_tick, shown = {[index]=true} }
local buffers = {}

local options = {
  auto_trigger = true,
  hl_group = 'ServalSuggestion',
}
local enabled = true

function M.configure(opts)
  options = vim.tbl_extend('force', options, opts or {})
end

function M.set_enabled(on)
  enabled = on
  if not on then
    for bufnr in pairs(buffers) do
      M.dismiss(bufnr)
    end
  end
end

function M.is_enabled()
  return enabled
end

local function cursor()
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function client_of(st)
  local client = st and vim.lsp.get_client_by_id(st.client_id)
  if client and not compat.is_stopped(client) then
    return client
  end
  return nil
end

local function line_at(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
end

-- The plain text of an item: snippets lose their placeholders.
local function insert_text(item)
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value or ''
    text = text:gsub('%${%d+:([^}]*)}', '%1'):gsub('%$%d+', ''):gsub('\\(.)', '%1')
  end
  return type(text) == 'string' and text or ''
end

-- Byte-range {srow, scol, erow, ecol} an item replaces; an item without
-- range inserts at the position it was requested for.
local function item_range(bufnr, item, anchor, encoding)
  if type(item.range) ~= 'table' then
    return { anchor[1], anchor[2], anchor[1], anchor[2] }
  end
  local s, e = item.range.start, item.range['end']
  local srow, erow = s.line, e.line
  return {
    srow,
    compat.byte_col(line_at(bufnr, srow), s.character, encoding),
    erow,
    compat.byte_col(line_at(bufnr, erow), e.character, encoding),
  }
end

-- What is left of the current item to show: its text minus what the buffer
-- already has between the item's start and the cursor. nil when the user
-- typed something else.
local function remainder(bufnr, st)
  local item = st.items and st.items[st.index]
  if not item then
    return nil
  end
  local row, col = cursor()
  local r = st.ranges[st.index]
  if row < r[1] or (row == r[1] and col < r[2]) then
    return nil
  end
  local typed = table.concat(vim.api.nvim_buf_get_text(bufnr, r[1], r[2], row, col, {}), '\n')
  local text = insert_text(item)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  return text:sub(#typed + 1), typed
end

local function clear_marks(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  end
end

local function render(bufnr)
  local st = buffers[bufnr]
  clear_marks(bufnr)
  if not st then
    return
  end
  local rest = remainder(bufnr, st)
  if not rest or rest == '' then
    st.visible = nil
    return
  end
  local row, col = cursor()
  local lines = vim.split(rest, '\n', { plain = true })
  local opts = {
    virt_text = { { lines[1], options.hl_group } },
    hl_mode = 'combine',
  }
  if compat.has('0.10') then
    opts.virt_text_pos = 'inline'
  elseif col >= #line_at(bufnr, row) then
    -- At the end of the line an overlay sits exactly where the text will go.
    opts.virt_text_pos = 'overlay'
  else
    -- Before 0.10 an overlay would hide the rest of the line: show it after it.
    opts.virt_text_pos = 'eol'
  end
  if #lines > 1 then
    local extra = {}
    for i = 2, #lines do
      table.insert(extra, { { lines[i], options.hl_group } })
    end
    opts.virt_lines = extra
  end
  vim.api.nvim_buf_set_extmark(bufnr, ns, row, col, opts)
  st.visible = { row = row, col = col, text = rest, tick = vim.api.nvim_buf_get_changedtick(bufnr) }

  if not st.shown[st.index] then
    st.shown[st.index] = true
    local client = client_of(st)
    if client then
      compat.notify(client, 'textDocument/didShowCompletion', { item = st.items[st.index] })
    end
  end
end

local function cancel_pending(st)
  if st and st.pending then
    local client = client_of(st)
    if client then
      compat.cancel_request(client, st.pending.id)
    end
    st.pending = nil
  end
end

--- Hide the ghost text and drop its items; a request in flight is kept
--- unless `cancel` is set.
function M.dismiss(bufnr, cancel)
  local st = buffers[bufnr]
  if not st then
    return
  end
  if cancel then
    cancel_pending(st)
  end
  st.items, st.index, st.visible = nil, nil, nil
  clear_marks(bufnr)
end

local function on_result(bufnr, pending, err, result)
  local st = buffers[bufnr]
  if not st or st.pending ~= pending then
    return -- superseded
  end
  st.pending = nil
  if err or not result then
    return
  end
  local row, col = cursor()
  if vim.api.nvim_get_current_buf() ~= bufnr or row ~= pending.row or col ~= pending.col
    or vim.api.nvim_buf_get_changedtick(bufnr) ~= pending.tick
    or not vim.api.nvim_get_mode().mode:match('^i') then
    return -- the user moved on while we waited
  end
  local items = result.items or result
  if type(items) ~= 'table' then
    return
  end
  local client = client_of(st)
  local encoding = client and client.offset_encoding or 'utf-16'
  local kept, ranges = {}, {}
  for _, item in ipairs(items) do
    if type(item) == 'table' and insert_text(item) ~= '' then
      table.insert(kept, item)
      table.insert(ranges, item_range(bufnr, item, { row, col }, encoding))
    end
  end
  if #kept == 0 then
    M.dismiss(bufnr)
    return
  end
  -- An explicit request made by a cycle key moves on from the first.
  local index = (pending.delta or 0) % #kept + 1
  st.items, st.ranges, st.index, st.shown = kept, ranges, index, {}
  render(bufnr)
end

--- Ask the agent for inline completions at the cursor; the answer shows its
--- first item, or the one delta after it.
function M.request(bufnr, kind, delta)
  local st = buffers[bufnr]
  local client = client_of(st)
  if not client then
    return
  end
  cancel_pending(st)
  local row, col = cursor()
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind or TRIGGER_AUTOMATIC }
  local pending = { row = row, col = col, tick = vim.api.nvim_buf_get_changedtick(bufnr), delta = delta }
  local ok, id = compat.request(client, 'textDocument/inlineCompletion', params, function(err, result)
    on_result(bufnr, pending, err, result)
  end, bufnr)
  if ok then
    pending.id = id
    st.pending = pending
  end
end

--- Whether ghost text is showing in `bufnr`.
function M.visible(bufnr)
  local st = buffers[bufnr or vim.api.nvim_get_current_buf()]
  return st ~= nil and st.visible ~= nil
end

--- How many candidates the agent returned for the ghost text showing.
function M.count(bufnr)
  local st = buffers[bufnr or vim.api.nvim_get_current_buf()]
  return st and st.visible and st.items and #st.items or 0
end

--- The ghost text showing in `bufnr` (nil when none).
function M.text(bufnr)
  local st = buffers[bufnr or vim.api.nvim_get_current_buf()]
  return st and st.visible and st.visible.text or nil
end

-- Insert `text` at the cursor (replacing `swallow` bytes after it) and put
-- the cursor after it, marking the change as ours so it does not retrigger.
local function insert_at_cursor(bufnr, text, swallow)
  local row, col = cursor()
  local line = line_at(bufnr, row)
  local ecol = math.min(col + (swallow or 0), #line)
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, col, row, ecol, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  local st = buffers[bufnr]
  if st then
    st.own_tick = vim.api.nvim_buf_get_changedtick(bufnr)
  end
end

local function next_word(text)
  return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text:match('^%s+') or text
end

local function next_line(text)
  local nl = text:find('\n', 1, true)
  if nl == 1 then
    -- At the end of a line, "the line" is the next one (with its newline).
    local second = text:find('\n', 2, true)
    return second and text:sub(1, second - 1) or text
  end
  return nl and text:sub(1, nl - 1) or text
end

--- Accept the ghost text: all of it (default), or `how` = 'word' | 'line'.
--- Returns false when nothing was showing.
function M.accept(bufnr, how)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = buffers[bufnr]
  if not st or not st.visible then
    return false
  end
  local rest, typed = remainder(bufnr, st)
  if not rest or rest == '' then
    M.dismiss(bufnr)
    return false
  end
  local item = st.items[st.index]
  local client = client_of(st)
  local part = rest
  if how == 'word' then
    part = next_word(rest)
  elseif how == 'line' then
    part = next_line(rest)
  end

  if part == rest then
    -- Whole item: the range may also swallow text after the cursor
    -- (closing brackets the editor inserted).
    local r = st.ranges[st.index]
    local row, col = cursor()
    local swallow = (r[3] == row and r[4] > col) and (r[4] - col) or 0
    cancel_pending(st)
    M.dismiss(bufnr)
    insert_at_cursor(bufnr, rest, swallow)
    if client and type(item.command) == 'table' and item.command.command then
      compat.request(client, 'workspace/executeCommand', {
        command = item.command.command,
        arguments = item.command.arguments,
      }, function() end, bufnr)
    end
    return true
  end

  insert_at_cursor(bufnr, part, 0)
  if client then
    compat.notify(client, 'textDocument/didPartiallyAcceptCompletion', {
      item = item,
      acceptedLength = compat.encoded_len(typed .. part, 'utf-16'),
    })
  end
  render(bufnr)
  return true
end

--- Show the next (delta = 1) or previous (-1) item; with fewer than two, ask
--- the agent explicitly (triggerKind Invoked), which returns several, and
--- show the next (or previous) of those.
function M.cycle(bufnr, delta)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = buffers[bufnr]
  if not st then
    return
  end
  if not st.items or #st.items < 2 then
    M.request(bufnr, TRIGGER_INVOKED, delta)
    return
  end
  st.index = (st.index - 1 + delta) % #st.items + 1
  render(bufnr)
end

--- Explicit trigger: ask for several candidates now.
function M.trigger(bufnr)
  M.request(bufnr or vim.api.nvim_get_current_buf(), TRIGGER_INVOKED)
end

-- Typed ahead: the user typed the start of the ghost text; keep showing the
-- rest at once instead of flickering until the agent answers again.
local function typed_ahead(bufnr, st)
  if not st.visible or not st.items or vim.api.nvim_buf_get_changedtick(bufnr) == st.visible.tick then
    return false
  end
  local row = cursor()
  local rest = remainder(bufnr, st)
  if row ~= st.visible.row or not rest or rest == '' or #rest >= #st.visible.text then
    return false
  end
  render(bufnr)
  return true
end

local function on_text_changed(bufnr)
  local st = buffers[bufnr]
  if not st or vim.api.nvim_buf_get_changedtick(bufnr) == st.own_tick then
    return
  end
  -- CursorMovedI runs before TextChangedI: it may have redrawn already.
  local fresh = st.visible and st.visible.tick == vim.api.nvim_buf_get_changedtick(bufnr)
  if not fresh and not typed_ahead(bufnr, st) then
    M.dismiss(bufnr)
  end
  if enabled and options.auto_trigger then
    M.request(bufnr, TRIGGER_AUTOMATIC)
  end
end

local function on_cursor_moved(bufnr)
  local st = buffers[bufnr]
  if not st or not st.visible then
    return
  end
  local row, col = cursor()
  if (row ~= st.visible.row or col ~= st.visible.col) and not typed_ahead(bufnr, st) then
    M.dismiss(bufnr)
  end
end

--- Start drawing ghost text in `bufnr` for `client`.
function M.attach(client, bufnr)
  if buffers[bufnr] then
    buffers[bufnr].client_id = client.id
    return
  end
  buffers[bufnr] = { client_id = client.id, shown = {} }
  local group = vim.api.nvim_create_augroup('serval_ghost_' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'TextChangedI', 'TextChangedP' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      on_text_changed(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd('InsertEnter', {
    group = group,
    buffer = bufnr,
    callback = function()
      if enabled and options.auto_trigger then
        -- After InsertEnter the cursor is where typing starts; ask there.
        vim.schedule(function()
          if vim.api.nvim_get_current_buf() == bufnr and vim.api.nvim_get_mode().mode:match('^i') then
            M.request(bufnr, TRIGGER_AUTOMATIC)
          end
        end)
      end
    end,
  })
  vim.api.nvim_create_autocmd('CursorMovedI', {
    group = group,
    buffer = bufnr,
    callback = function()
      on_cursor_moved(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr, true)
    end,
  })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      M.detach(bufnr)
    end,
  })
end

function M.detach(bufnr)
  local st = buffers[bufnr]
  if not st then
    return
  end
  cancel_pending(st)
  clear_marks(bufnr)
  buffers[bufnr] = nil
  pcall(vim.api.nvim_del_augroup_by_name, 'serval_ghost_' .. bufnr)
end

return M
