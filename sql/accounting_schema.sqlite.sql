-- Reference accounting schema, SQLite flavour (the embedded demo database and the test scenarios).
--
-- It models the customer's accounting system, which we only read. That system may hold junk,
-- so there is deliberately no CHECK on residuals, currencies or emails and due_date is nullable:
-- bad rows must be storable, because the product's job is to quarantine them. Foreign keys stay:
-- an accounting system does not lose the customer of a posted document.
-- SQLite conventions: money is NUMERIC (Python reads it through dunning.money.to_money), dates
-- are declared DATE and stored as ISO 'YYYY-MM-DD' text, booleans are INTEGER 0/1.
-- Statements are separated by semicolons and executed one by one, so comments hold none.

CREATE TABLE customers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT,
    phone         TEXT,
    language      TEXT NOT NULL DEFAULT 'fr',
    is_consumer   INTEGER NOT NULL DEFAULT 0,
    siren         TEXT,
    address_line  TEXT,
    postal_code   TEXT,
    city          TEXT,
    country       TEXT NOT NULL DEFAULT 'FR',
    credit_limit  NUMERIC,
    strategic     INTEGER NOT NULL DEFAULT 0,
    created_on    DATE
);

CREATE TABLE invoices (
    id               TEXT PRIMARY KEY,
    number           TEXT NOT NULL UNIQUE,
    customer_id      TEXT NOT NULL REFERENCES customers (id),
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    issue_date       DATE NOT NULL,
    due_date         DATE,
    currency         TEXT NOT NULL,
    amount_total     NUMERIC NOT NULL,
    amount_residual  NUMERIC NOT NULL,
    disputed         INTEGER NOT NULL DEFAULT 0,
    disputed_reason  TEXT
);

CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    invoice_id   TEXT REFERENCES invoices (id),
    paid_on      DATE NOT NULL,
    amount       NUMERIC NOT NULL,
    method       TEXT
);

-- The extraction reads open posted invoices per debtor and payment history per debtor and date.
CREATE INDEX ix_invoices_customer_id ON invoices (customer_id);
CREATE INDEX ix_invoices_kind_status ON invoices (kind, status);
CREATE INDEX ix_payments_invoice_id ON payments (invoice_id);
CREATE INDEX ix_payments_customer_id_paid_on ON payments (customer_id, paid_on);
