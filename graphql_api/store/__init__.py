"""The API's SQL, one module per type; resolvers never hold SQL.

Every statement is parameterised (``Params``): no value a client sends is ever spliced
into SQL text. Who may see what is decided here too, in SQL, from the indexed grants
(``sql.VISIBLE``), so that no path (list, node, nested field, subscription replay) can
return a row its viewer may not see.
"""
