-- Configuration for Neovim 0.11+'s vim.lsp.config / vim.lsp.enable:
--
--   vim.lsp.enable('serval')
--
-- (nvim-lspconfig 2.x picks up the same file.) Endpoint and token come from
-- SERVAL_ENDPOINT / SERVAL_TOKEN, or override them:
--
--   vim.lsp.config('serval', { init_options = { server = { endpoint = ..., token = ... } } })
local config = require('serval').lsp_config()
config.name = nil -- vim.lsp.config names it after this file
config.root_markers = { '.git' }
return config
