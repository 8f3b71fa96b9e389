-- serval.highlight: the ServalSuggestion highlight group ghost text is drawn
-- with. Dim on every terminal: `DarkGray` resolves by the terminal's colours
-- (bright black on 8 and 16 colours, 242 on 256) and #808080 with
-- 'termguicolors'. Defined with `default`, so a colorscheme or the user's own
-- `:highlight ServalSuggestion ...` wins; defined again after every
-- :colorscheme (which clears it).
local M = {}

M.group = 'ServalSuggestion'

function M.define()
  vim.cmd('highlight default ServalSuggestion ctermfg=DarkGray guifg=#808080')
end

function M.setup()
  M.define()
  local group = vim.api.nvim_create_augroup('serval_highlight', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = M.define })
end

return M
