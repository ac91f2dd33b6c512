-- The customers an operator names by id (a debtor hold): an unknown id is refused, not held silently.
-- The ids come as one expanding bind parameter.
SELECT
    c.id    AS customer_id,
    c.name  AS name
FROM customers c
WHERE c.id IN :ids
ORDER BY c.id
