-- serval.nvim: defines :ServalStatus, :ServalToggle and the LspAttach hook so
-- that an agent started by vim.lsp.enable('serval') or lspconfig gets ghost
-- text and keys. The agent itself starts from require('serval').setup{}.
if vim.g.loaded_serval then
  return
end
vim.g.loaded_serval = true
require('serval').define_commands()
