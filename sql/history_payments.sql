-- Every payment lettered to an invoice in the history window (since, as-of date], one row each,
-- for their check: payment_history.sql sums them per invoice and its join leaves out a payment of
-- an invoice the books do not have. Validation quarantines, by payment id, such a payment and one
-- whose date or amount cannot be read; known_invoice_id is NULL when the invoice does not exist.
SELECT
    p.id               AS payment_id,
    p.customer_id      AS debtor_id,
    p.invoice_id       AS invoice_id,
    i.id               AS known_invoice_id,
    p.paid_on          AS paid_on,
    p.amount           AS amount
FROM payments p
LEFT JOIN invoices i ON i.id = p.invoice_id
WHERE p.invoice_id IS NOT NULL
  AND (p.paid_on IS NULL OR (p.paid_on > :since AND p.paid_on <= :as_of))
ORDER BY p.id
