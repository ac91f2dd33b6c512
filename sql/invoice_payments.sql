-- Payments lettered to the given invoices up to the as-of date: what a promise or a payment plan
-- counts as paid towards it, and the payments late-payment interest runs until.
SELECT
    p.id               AS payment_id,
    p.invoice_id       AS invoice_id,
    p.paid_on          AS paid_on,
    p.amount           AS amount
FROM payments p
WHERE p.invoice_id IN :ids
  AND p.paid_on <= :as_of
ORDER BY p.invoice_id, p.paid_on
