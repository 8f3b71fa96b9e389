-- serval.highlight: the colours ghost text is drawn with. Dim on every
-- terminal: `DarkGray` resolves by the terminal's colours (bright black on 8
-- and 16 colours, 242 on 256) and #808080 with 'termguicolors'.
--
-- 0.7-0.11: the ServalSuggestion group, defined with `default`, so a
-- colorscheme or the user's own `:highlight ServalSuggestion ...` wins.
-- 0.12: the built-in inline completion draws with ComplHint, linked to
-- NonText, which the default colorscheme gives a gui colour only: without
-- 'termguicolors' the ghost text would look like code. When ComplHint
-- resolves to no cterm colour, it gets DarkGray, keeping its gui colours.
-- Both are defined again after every :colorscheme (which resets them).
local M = {}

M.group = 'ServalSuggestion'

-- cterm_fg is the cterm foreground `group` resolves to, after links ("" when none).
local function cterm_fg(group)
  return vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID(group)), 'fg', 'cterm')
end

-- dim_complhint gives 0.12's ComplHint a cterm colour when it resolves to none.
local function dim_complhint()
  if vim.fn.hlexists('ComplHint') ~= 1 or not vim.api.nvim_get_hl or cterm_fg('ComplHint') ~= '' then
    return
  end
  local hl = vim.api.nvim_get_hl(0, { name = 'ComplHint', link = false })
  hl.ctermfg = 'DarkGray'
  vim.api.nvim_set_hl(0, 'ComplHint', hl)
end

function M.define()
  vim.cmd('highlight default ServalSuggestion ctermfg=DarkGray guifg=#808080')
  dim_complhint()
end

function M.setup()
  M.define()
  local group = vim.api.nvim_create_augroup('serval_highlight', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = M.define })
end

return M
