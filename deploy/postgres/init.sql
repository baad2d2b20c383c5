-- PostgreSQL bootstrap for docker-compose.yml: one database and one role per service.
--
-- The official postgres image runs every file of /docker-entrypoint-initdb.d once, on the first start with an
-- empty data volume, through `psql -v ON_ERROR_STOP=1` as the superuser. To re-run it: `docker compose down -v`.
--
-- Each service role owns exactly one database and may connect to no other service's database: CONNECT is revoked
-- from PUBLIC on every service database (the owner keeps it). PostgreSQL 15 already denies CREATE on the public
-- schema to non-owners, so the owner role is the only one that can create tables in its database.
--
-- Passwords come from the container environment (set in docker-compose.yml) through psql's \getenv, with the role
-- name as demo default when the variable is absent. :'var' makes psql quote the value as a SQL literal, so any
-- password is safe here; in the services' URLs, a password with reserved characters must be percent-encoded.

\set ON_ERROR_STOP on

\set market_intake_password market_intake
\getenv market_intake_password MARKET_INTAKE_DB_PASSWORD
\set matching_password matching
\getenv matching_password MATCHING_DB_PASSWORD
\set hours_password hours
\getenv hours_password HOURS_DB_PASSWORD
\set reporting_password reporting
\getenv reporting_password REPORTING_DB_PASSWORD

-- market_intake: buyers, markets, lots, clauses, awards, amendments, invoices (+ its outbox/inbox tables)
CREATE ROLE market_intake LOGIN PASSWORD :'market_intake_password';
CREATE DATABASE market_intake OWNER market_intake;
REVOKE ALL ON DATABASE market_intake FROM PUBLIC;

-- matching: structures, beneficiaries (the only place holding identities), placements, exits
CREATE ROLE matching LOGIN PASSWORD :'matching_password';
CREATE DATABASE matching OWNER matching;
REVOKE ALL ON DATABASE matching FROM PUBLIC;

-- hours: hour statements, corrections, imports, lot progress
CREATE ROLE hours LOGIN PASSWORD :'hours_password';
CREATE DATABASE hours OWNER hours;
REVOKE ALL ON DATABASE hours FROM PUBLIC;

-- reporting: projections rebuilt from the event streams
CREATE ROLE reporting LOGIN PASSWORD :'reporting_password';
CREATE DATABASE reporting OWNER reporting;
REVOKE ALL ON DATABASE reporting FROM PUBLIC;
