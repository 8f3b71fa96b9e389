-- serval.builtin: explicit requests and cycling for Neovim 0.12+, where the
-- built-in vim.lsp.inline_completion draws the ghost text.
--
-- The built-in asks only with triggerKind Automatic, for which the agent
-- returns one item, and vim.lsp.inline_completion.select cycles through the
-- items it holds. So the cycle keys first ask the agent explicitly
-- (triggerKind Invoked: up to 3 candidates), hand the answer to the
-- built-in's own handler (it keeps, draws and accepts the items as it does
-- its own) and then move to the next or previous one.
local compat = require('serval.compat')

local M = {}

local TRIGGER_INVOKED = 1

-- The built-in's state for bufnr (its Completor), or nil when this Neovim's
-- internals differ: then only the built-in's own items can be cycled.
local function completor(bufnr)
  local ok, capability = pcall(require, 'vim.lsp._capability')
  local class = ok and type(capability.all) == 'table' and capability.all.inline_completion
  local c = class and class.active and class.active[bufnr]
  if c and type(c.handler) == 'function' and type(c.count_items) == 'function' then
    return c
  end
  return nil
end

--- Show the next (delta = 1) or previous (-1) candidate; with fewer than two
--- held, ask the agent for several first. delta = 0 only asks (the trigger key).
function M.cycle(bufnr, delta)
  local ic = vim.lsp.inline_completion
  local c = completor(bufnr)
  if delta ~= 0 and (not c or c:count_items() >= 2) then
    ic.select({ bufnr = bufnr, count = delta })
    return
  end
  local client = c and compat.clients(bufnr, 'serval')[1]
  if not client then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = TRIGGER_INVOKED }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local pos = vim.api.nvim_win_get_cursor(0)
  compat.request(client, 'textDocument/inlineCompletion', params, function(err, result, ctx)
    local now = vim.api.nvim_win_get_cursor(0)
    if vim.api.nvim_get_current_buf() ~= bufnr or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick
      or now[1] ~= pos[1] or now[2] ~= pos[2] then
      return -- the user moved on while the agent answered
    end
    c = completor(bufnr)
    if not c then
      return
    end
    c:handler(err, result, ctx) -- keeps the items and shows the first
    if delta ~= 0 and c:count_items() >= 2 then
      ic.select({ bufnr = bufnr, count = delta })
    end
  end, bufnr)
end

return M
