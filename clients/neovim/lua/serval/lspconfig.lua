-- serval.lspconfig: registers serval-agent with nvim-lspconfig's legacy
-- framework (lspconfig before 2.x, or its `require('lspconfig').x.setup{}`
-- API), so that
--
--   require('serval.lspconfig').register()
--   require('lspconfig').serval.setup{}
--
-- starts the agent with the same settings as require('serval').setup{}.
local M = {}

--- The settings lspconfig is given (`default_config`); opts as in serval.setup.
function M.default_config(opts)
  local config = require('serval').lsp_config(opts)
  config.name = nil
  -- filetypes stays nil unless set: lspconfig then starts it for any file.
  config.single_file_support = true
  config.root_dir = function(fname)
    local git = vim.fn.finddir('.git', vim.fn.fnamemodify(fname, ':p:h') .. ';')
    if git ~= '' then
      return vim.fn.fnamemodify(git, ':p:h:h')
    end
    return vim.fn.fnamemodify(fname, ':p:h')
  end
  return config
end

--- Add `serval` to lspconfig's configurations (needs nvim-lspconfig).
function M.register(opts)
  local ok, configs = pcall(require, 'lspconfig.configs')
  if not ok then
    error('serval.lspconfig: nvim-lspconfig is not installed', 2)
  end
  require('serval').define_commands()
  if not configs.serval then
    configs.serval = {
      default_config = M.default_config(opts),
      docs = { description = 'serval-agent: inline code completions from a Serval server.' },
    }
  end
  return configs.serval
end

return M
