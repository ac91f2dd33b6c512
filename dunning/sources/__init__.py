"""The way in: the accounting database (reference schema and its queries in sql/), row validation,
the configuration files and the demo data. May import the rules, the law and dunning.databases."""
