-- The customers an operator names by id (a debtor hold, a small claim handed over): an unknown id is
-- refused, not held silently.
-- The ids come as one expanding bind parameter.
SELECT
    c.id    AS customer_id,
    c.name  AS name,
    c.is_consumer AS is_consumer
FROM customers c
WHERE c.id IN :ids
ORDER BY c.id
