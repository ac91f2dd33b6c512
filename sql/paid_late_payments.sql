-- The payments of the invoices paid in full but late, as they stood at the end of the as-of date:
-- residual 0 and nothing paid after the as-of date, at least one payment after the due date, the
-- latest of those in the window (since, as-of date]. Businesses only: a consumer owes no
-- late-payment penalties (L441-10 II C. com. applies between professionals). One row per payment:
-- interest runs on each day's balance until each payment was received.
SELECT
    i.id               AS invoice_id,
    i.number           AS number,
    i.customer_id      AS debtor_id,
    i.due_date         AS due_date,
    i.currency         AS currency,
    i.amount_total     AS amount_total,
    i.disputed         AS disputed,
    c.name             AS debtor_name,
    c.email            AS email,
    c.language         AS language,
    c.is_consumer      AS is_consumer,
    c.address_line     AS address_line,
    c.postal_code      AS postal_code,
    c.city             AS city,
    c.country          AS country,
    p.paid_on          AS paid_on,
    p.amount           AS amount
FROM invoices i
JOIN customers c ON c.id = i.customer_id
JOIN payments p ON p.invoice_id = i.id
WHERE i.kind = 'invoice'
  AND i.status = 'posted'
  AND i.amount_residual = 0
  AND NOT c.is_consumer
  AND p.paid_on <= :as_of
  AND NOT EXISTS (SELECT 1 FROM payments a WHERE a.invoice_id = i.id AND a.paid_on > :as_of)
  AND EXISTS (SELECT 1 FROM payments l WHERE l.invoice_id = i.id AND l.paid_on > i.due_date
              AND l.paid_on > :since AND l.paid_on <= :as_of)
ORDER BY i.customer_id, i.due_date, i.number, p.paid_on
