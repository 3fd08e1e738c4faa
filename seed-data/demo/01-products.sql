-- Demo products for the shop template.
CREATE TABLE IF NOT EXISTS products (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0)
);

INSERT INTO products (name, price_cents) VALUES
  ('Espresso cup', 650),
  ('Moka pot', 3490),
  ('Pour-over kettle', 4200),
  ('Burr grinder', 12900),
  ('Tea infuser', 990),
  ('Ceramic teapot', 2750),
  ('Milk frother', 1899),
  ('Coffee scale', 2400),
  ('Paper filters (100)', 450),
  ('Travel mug', 1590),
  ('Cold brew jar', 2100),
  ('Tasting spoon', 300);
