-- Credit a debtor holds against us at the end of the as-of date: posted credit notes not yet allocated
-- and payments received without an invoice, each with the day it was posted (the day compensation
-- with a due invoice can take effect, Code civil 1347). Payments carry no currency in the reference schema:
-- they are in the company's currency (config/company.yaml), filled in by the product.
-- A credit note with a residual of exactly 0 is consumed and a payment of exactly 0 carries
-- nothing, so both are left out. Anything else comes back, junk included (a negative credit note
-- residual, a negative unallocated payment, a missing amount), for the product to quarantine.
SELECT
    i.customer_id      AS debtor_id,
    c.name             AS debtor_name,
    i.currency         AS currency,
    i.amount_residual  AS amount,
    'credit_note'      AS source,
    i.number           AS reference,
    i.issue_date       AS posted_on
FROM invoices i
LEFT JOIN customers c ON c.id = i.customer_id
WHERE i.kind = 'credit_note'
  AND i.status = 'posted'
  AND (i.amount_residual IS NULL OR i.amount_residual <> 0)
  AND (i.issue_date IS NULL OR i.issue_date <= :as_of)
UNION ALL
SELECT
    p.customer_id      AS debtor_id,
    c.name             AS debtor_name,
    NULL               AS currency,
    p.amount           AS amount,
    'payment'          AS source,
    p.id               AS reference,
    p.paid_on          AS posted_on
FROM payments p
LEFT JOIN customers c ON c.id = p.customer_id
WHERE p.invoice_id IS NULL
  AND (p.amount IS NULL OR p.amount <> 0)
  AND p.paid_on <= :as_of
