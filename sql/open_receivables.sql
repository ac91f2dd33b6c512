-- Open customer invoices as they stood at the end of the as-of date, with their debtor.
-- The residual is rebuilt for that date by adding back payments dated after it, so a backfill run
-- sees invoices that were open then. Rows are returned as stored, junk included: the product
-- validates them and quarantines what makes no sense, rather than filtering it out of sight.
-- Only credit notes are left out (they are credit, read by unapplied_credits.sql); any other
-- document kind, or none, comes back with its kind so that validation quarantines it by name.
-- An invoice issued after the as-of date comes back too: validation quarantines it by its id
-- ("issued after the as-of date"), so that a backfill does not chase it and a mistyped date is seen.
SELECT
    i.id               AS invoice_id,
    i.number           AS number,
    i.kind             AS kind,
    i.customer_id      AS debtor_id,
    i.status           AS status,
    i.issue_date       AS issue_date,
    i.due_date         AS due_date,
    i.currency         AS currency,
    i.amount_total     AS amount_total,
    i.amount_residual  AS residual_now,
    COALESCE(later.amount, 0) AS paid_after_as_of,
    i.disputed         AS disputed,
    i.disputed_reason  AS disputed_reason,
    c.id               AS customer_id,
    c.name             AS debtor_name,
    c.email            AS email,
    c.language         AS language,
    c.is_consumer      AS is_consumer,
    c.siren            AS siren,
    c.address_line     AS address_line,
    c.postal_code      AS postal_code,
    c.city             AS city,
    c.country          AS country,
    c.credit_limit     AS credit_limit,
    c.strategic        AS strategic
FROM invoices i
LEFT JOIN customers c ON c.id = i.customer_id
LEFT JOIN (
    SELECT invoice_id, SUM(amount) AS amount
    FROM payments
    WHERE invoice_id IS NOT NULL AND paid_on > :as_of
    GROUP BY invoice_id
) later ON later.invoice_id = i.id
WHERE (i.kind IS NULL OR i.kind <> 'credit_note')
  AND (i.amount_residual IS NULL OR i.amount_residual <> 0 OR later.amount IS NOT NULL)
ORDER BY i.customer_id, i.due_date, i.number
