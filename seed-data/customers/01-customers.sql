-- 10,000 customers with orders, generated here (deterministic: no random()), for masked seeds.
-- The personal data is made up but looks real: names, e-mail addresses, phone numbers, street
-- addresses, card numbers with a valid Luhn check digit, and free-text notes that mention them.

CREATE TABLE IF NOT EXISTS products (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0)
);
INSERT INTO products (name, price_cents) VALUES
  ('Espresso cup', 650), ('Moka pot', 3490), ('Pour-over kettle', 4200), ('Burr grinder', 12900),
  ('Tea infuser', 990), ('Ceramic teapot', 2750), ('Milk frother', 1899), ('Coffee scale', 2400),
  ('Paper filters (100)', 450), ('Travel mug', 1590), ('Cold brew jar', 2100), ('Tasting spoon', 300);

CREATE TABLE customers (
  id          integer PRIMARY KEY,
  name        text NOT NULL,
  email       varchar(120) NOT NULL UNIQUE,
  phone       text,
  address     text,
  card_number text,
  notes       text,
  created_on  date NOT NULL
);

CREATE TABLE orders (
  id               integer PRIMARY KEY,
  customer_id      integer NOT NULL REFERENCES customers (id),
  customer_email   varchar(120) NOT NULL REFERENCES customers (email),
  shipping_address text,
  warehouse_phone  text NOT NULL,
  status           text NOT NULL,
  total_cents      integer NOT NULL
);
CREATE INDEX orders_customer_email ON orders (customer_email);

-- The Luhn check digit of a string of digits (a session-only helper: not part of the dataset).
CREATE FUNCTION pg_temp.luhn_digit(d text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT ((10 - sum(CASE WHEN (length(d) - i) % 2 = 0 THEN (x * 2) / 10 + (x * 2) % 10 ELSE x END) % 10) % 10)::text
  FROM (SELECT i, substr(d, i, 1)::int x FROM generate_series(1, length(d)) i) t
$$;

INSERT INTO customers (id, name, email, phone, address, card_number, notes, created_on)
SELECT id, first || ' ' || last,
  lower(first) || '.' || lower(last) || id || '@' || (ARRAY['mailbox.org', 'gmail.com', 'outlook.com', 'proton.me', 'fastmail.com'])[1 + id % 5],
  CASE id % 3 WHEN 0 THEN '+1 ' ELSE '' END || (201 + id % 700) || '-' || lpad(((id * 7919) % 1000)::text, 3, '0') || '-' || lpad(((id * 104729) % 10000)::text, 4, '0'),
  (1 + (id * 37) % 2000) || ' ' || (ARRAY['Oak', 'Pine', 'Elm', 'Main', 'Church', 'Park', 'Lake', 'Hill'])[1 + id % 8] || ' '
    || (ARRAY['Street', 'Road', 'Avenue'])[1 + id % 3] || ', ' || (ARRAY['Springfield', 'Riverside', 'Franklin', 'Greenville', 'Bristol'])[1 + id % 5],
  card || pg_temp.luhn_digit(card),
  CASE WHEN id % 4 = 0 THEN 'Prefers a call at ' || (201 + id % 700) || '-555-' || lpad((id % 10000)::text, 4, '0') || ' before delivery.'
       WHEN id % 4 = 1 THEN 'Send invoices to ' || lower(first) || '@' || lower(last) || '-family.net please.'
       ELSE 'Leave parcels with the neighbour.' END,
  date '2024-01-01' + (id % 700)
FROM (
  SELECT id,
    (ARRAY['Olivia', 'Liam', 'Emma', 'Noah', 'Ava', 'Elijah', 'Sophia', 'Lucas', 'Mia', 'Mateo', 'Amelia', 'Levi', 'Harper', 'Ezra', 'Evelyn', 'Luca'])[1 + (id * 13) % 16] AS first,
    (ARRAY['Garcia', 'Smith', 'Johnson', 'Brown', 'Jones', 'Miller', 'Davis', 'Lopez', 'Wilson', 'Moore', 'Taylor', 'Clark', 'Lewis', 'Young', 'Allen', 'King'])[1 + (id * 7) % 16] AS last,
    '4' || lpad(((id::bigint * 982451653) % 100000000000000)::text, 14, '0') AS card
  FROM generate_series(1, 10000) id
) c;

INSERT INTO orders (id, customer_id, customer_email, shipping_address, warehouse_phone, status, total_cents)
SELECT o, c.id, c.email, c.address, '+1 800-555-0100', (ARRAY['paid', 'shipped', 'delivered', 'returned'])[1 + o % 4], 500 + (o * 7907) % 50000
FROM generate_series(1, 30000) o
JOIN customers c ON c.id = 1 + (o::bigint * o) % 10000;
