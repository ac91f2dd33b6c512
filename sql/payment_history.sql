-- Invoices that received a payment in the history window (since, as-of date], with the date of
-- their last payment up to the as-of date: the segmentation's evidence of how a debtor pays.
SELECT
    i.customer_id      AS debtor_id,
    i.id               AS invoice_id,
    i.number           AS number,
    i.due_date         AS due_date,
    i.amount_total     AS amount_total,
    MAX(p.paid_on)     AS last_paid_on,
    SUM(p.amount)      AS paid_amount
FROM payments p
JOIN invoices i ON i.id = p.invoice_id
WHERE i.kind = 'invoice'
  AND i.status = 'posted'
  AND p.paid_on <= :as_of
  AND i.id IN (SELECT invoice_id FROM payments WHERE paid_on > :since AND paid_on <= :as_of)
GROUP BY i.customer_id, i.id, i.number, i.due_date, i.amount_total
