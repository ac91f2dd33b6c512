-- The documents an operator names by number (a dispute, a promise, a payment plan, a hold), with
-- what the product needs to record the lever: id, debtor, currency and what is still open.
-- The numbers come as one expanding bind parameter (a placeholder each); nothing is built from text.
SELECT
    i.id               AS invoice_id,
    i.number           AS number,
    i.customer_id      AS customer_id,
    i.currency         AS currency,
    i.due_date         AS due_date,
    i.amount_residual  AS amount_residual,
    i.kind             AS kind,
    i.status           AS status
FROM invoices i
WHERE i.number IN :numbers
ORDER BY i.number
