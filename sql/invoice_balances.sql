-- The given invoices as the accounting system has them right now: read again just before a message
-- goes out and before a legal case is closed as paid, so neither acts on a stale balance.
SELECT
    i.id               AS invoice_id,
    i.number           AS number,
    i.customer_id      AS debtor_id,
    i.kind             AS kind,
    i.status           AS status,
    i.currency         AS currency,
    i.amount_residual  AS residual,
    i.disputed         AS disputed,
    i.disputed_reason  AS disputed_reason
FROM invoices i
WHERE i.id IN :ids
