-- serval.compat: the few Neovim API differences between 0.7 and 0.12 that the
-- plugin touches, in one place so the rest of the code reads the same on all.
local M = {}

local has_cache = {}

--- has('0.10') is true on Neovim 0.10 and later.
function M.has(version)
  local v = has_cache[version]
  if v == nil then
    v = vim.fn.has('nvim-' .. version) == 1
    has_cache[version] = v
  end
  return v
end

-- Method-call form (client:request) exists from 0.11; the dot form is
-- deprecated there and removed in 0.13.
function M.request(client, method, params, handler, bufnr)
  if M.has('0.11') then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if M.has('0.11') then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel_request(client, id)
  if M.has('0.11') then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

function M.is_stopped(client)
  if M.has('0.11') then
    return client:is_stopped()
  end
  return client.is_stopped()
end

--- The attached LSP clients called `name` for `bufnr`.
function M.clients(bufnr, name)
  local found = {}
  if vim.lsp.get_clients then
    found = vim.lsp.get_clients({ bufnr = bufnr, name = name })
  else
    for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
      if client.name == name then
        table.insert(found, client)
      end
    end
  end
  return found
end

--- All running clients called `name`.
function M.all_clients(name)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ name = name })
  end
  local found = {}
  for _, client in pairs(vim.lsp.get_active_clients()) do
    if client.name == name then
      table.insert(found, client)
    end
  end
  return found
end

--- The byte length of `s` in UTF-16 code units (what LSP counts by default).
function M.utf16_len(s)
  local n = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 0x80 or b >= 0xC0 then
      -- a code point starts here; 4-byte sequences are surrogate pairs.
      n = n + ((b >= 0xF0) and 2 or 1)
    end
  end
  return n
end

--- Length of `s` in the given LSP position encoding.
function M.encoded_len(s, encoding)
  if encoding == 'utf-8' then
    return #s
  end
  if encoding == 'utf-32' then
    local n = 0
    for i = 1, #s do
      local b = s:byte(i)
      if b < 0x80 or b >= 0xC0 then
        n = n + 1
      end
    end
    return n
  end
  return M.utf16_len(s)
end

--- Byte column in `line` of an LSP `character` counted in `encoding`.
function M.byte_col(line, character, encoding)
  if encoding == 'utf-8' then
    return math.min(character, #line)
  end
  local units = 0
  local i = 1
  while i <= #line and units < character do
    local b = line:byte(i)
    local len = b >= 0xF0 and 4 or b >= 0xE0 and 3 or b >= 0xC0 and 2 or 1
    units = units + ((encoding ~= 'utf-32' and len == 4) and 2 or 1)
    i = i + len
  end
  return math.min(i - 1, #line)
end

return M
