/**
 * The SQL of masked seeds, installed for the length of a golden build in the schema `mayfly_mask`
 * of the database being built (and dropped before the snapshot is taken).
 *
 * Generators are deterministic: each output is derived from sha512(rule seed, generator, source
 * value), so one source value gets one masked value in every table (a join on an e-mail still
 * matches) and a rebuild gives the same bytes. When an output happens to equal its source the
 * generator tries again with the next salt, so a value is never "masked" to itself.
 *
 * Detectors (the leak gate): e-mail addresses, phone numbers written with separators or a leading
 * "+", and card numbers of 13 to 19 digits (spaces or dashes allowed) with a valid Luhn check digit.
 * Changing anything here changes goldens: raise MASK_VERSION (core/catalog/mask.ts).
 */
import { MASK_GENERATORS } from '../../core/catalog/mask.js';

export const MASK_SCHEMA = 'mayfly_mask';

const FIRST = ['Avery', 'Blake', 'Casey', 'Dana', 'Eden', 'Finley', 'Gray', 'Harper', 'Indy', 'Jules', 'Kai', 'Lane', 'Morgan', 'Noel', 'Oakley', 'Parker',
  'Quinn', 'Reese', 'Sage', 'Tatum', 'Umi', 'Val', 'Wren', 'Xen', 'Yael', 'Zion', 'Arden', 'Brook', 'Cameron', 'Devon', 'Ellis', 'Frankie'];
const LAST = ['Ashdown', 'Brightwater', 'Copperfield', 'Dunmore', 'Eastwood', 'Fairbanks', 'Glenholm', 'Hollowell', 'Ironside', 'Juniper', 'Kestrel', 'Larkspur',
  'Merriweather', 'Northcott', 'Oakhurst', 'Pembrook', 'Quarry', 'Ravenscroft', 'Stillwater', 'Thornbury', 'Underhill', 'Vale', 'Westbrook', 'Yarrow',
  'Amberley', 'Birchwood', 'Coldwell', 'Dovecote', 'Elmstead', 'Foxley', 'Greystone', 'Hawthorne'];
const STREETS = ['Maple', 'Cedar', 'Harbor', 'Mill', 'Orchard', 'Ridge', 'Willow', 'Station', 'Chapel', 'Meadow', 'Quarry', 'Lantern', 'Beacon', 'Garden', 'Hill', 'Brook'];
const STREET_TYPES = ['Street', 'Road', 'Lane', 'Avenue', 'Way', 'Close', 'Drive', 'Court'];
const CITIES = ['Northwick', 'Easterly', 'Southmoor', 'Westford', 'Lakeview', 'Fairhaven', 'Kingsbridge', 'Millbrook', 'Ashby', 'Riverton', 'Stonefield', 'Glendale',
  'Harrow Point', 'Oakridge', 'Brightmouth', 'Cresthill'];
const WORDS = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do', 'eiusmod', 'tempor', 'incididunt', 'ut', 'labore', 'et',
  'dolore', 'magna', 'aliqua', 'enim', 'ad', 'minim', 'veniam', 'quis', 'nostrud', 'exercitation', 'ullamco', 'laboris', 'nisi', 'aliquip', 'ex', 'ea',
  'commodo', 'consequat', 'duis', 'aute', 'irure', 'in', 'reprehenderit', 'voluptate', 'velit', 'esse', 'cillum', 'fugiat', 'nulla', 'pariatur', 'excepteur', 'sint',
  'occaecat', 'cupidatat', 'non', 'proident', 'sunt', 'culpa', 'qui', 'officia', 'deserunt', 'mollit', 'anim', 'id', 'est', 'laborum', 'porta', 'vitae'];

function arr(values: string[]): string {
  return `ARRAY[${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(',')}]::text[]`;
}

/** Matches an e-mail address anywhere in a value (PostgreSQL ARE). */
export const EMAIL_RE = '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}';
/**
 * A phone number: 3-3-4 digits with separators, the area code maybe in brackets and a country code
 * in front ("555-123-4567", "(555) 123 4567", "+1 555.123.4567"), or an international number after
 * "+" in groups ("+44 20 7946 0958"). Bare runs of digits are not phones here (ids, amounts).
 */
export const PHONE_RE = '(^|[^0-9])((\\+[0-9]{1,3}[ .-]?)?(\\([0-9]{3}\\) ?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}|\\+[0-9]{1,3}([ .-][0-9]{2,5}){2,5})([^0-9]|$)';
/** A run of 13 to 19 digits, spaces or dashes allowed between them, not part of a longer run. */
export const CARD_RUN_RE = '(^|[^0-9])([0-9]([ -]?[0-9]){12,18})(?=[^0-9]|$)';

/** Installs the generators and detectors (one script; psql with ON_ERROR_STOP). */
export function installSql(): string {
  const s = MASK_SCHEMA;
  return `
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS ${s} CASCADE;
CREATE SCHEMA ${s};

-- n or more pseudo-random bytes from a key: sha512 blocks of (key, block number).
CREATE FUNCTION ${s}.stream(k text, n int) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT string_agg(sha512(convert_to(k || chr(30) || i::text, 'UTF8')), ''::bytea ORDER BY i) FROM generate_series(0, greatest(0, (n - 1) / 64)) i
$f$;

-- A number in [0, m) from two bytes at offset o.
CREATE FUNCTION ${s}.pick(b bytea, o int, m int) RETURNS int LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT (get_byte(b, o) * 256 + get_byte(b, o + 1)) % m
$f$;

CREATE FUNCTION ${s}.g_name(b bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT (${arr(FIRST)})[1 + ${s}.pick(b, 0, ${FIRST.length})] || ' ' || (${arr(LAST)})[1 + ${s}.pick(b, 2, ${LAST.length})]
$f$;

-- 16 hex digits (64 bits) keep distinct source addresses distinct (a UNIQUE column stays unique).
CREATE FUNCTION ${s}.g_email(b bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT lower((${arr(FIRST)})[1 + ${s}.pick(b, 0, ${FIRST.length})]) || '.' || encode(substr(b, 3, 8), 'hex') || '@example.com'
$f$;

CREATE FUNCTION ${s}.g_address(b bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT (1 + ${s}.pick(b, 0, 9999))::text || ' ' || (${arr(STREETS)})[1 + ${s}.pick(b, 2, ${STREETS.length})] || ' '
    || (${arr(STREET_TYPES)})[1 + ${s}.pick(b, 4, ${STREET_TYPES.length})] || ', ' || (${arr(CITIES)})[1 + ${s}.pick(b, 6, ${CITIES.length})]
$f$;

-- As many words as the source (at most 500), a capital first and a full stop.
CREATE FUNCTION ${s}.g_text(v text, b bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT initcap(left(t, 1)) || substr(t, 2) || '.' FROM (
    SELECT string_agg((${arr(WORDS)})[1 + ${s}.pick(b, 2 * i, ${WORDS.length})], ' ' ORDER BY i) t
    FROM generate_series(0, least(500, coalesce(array_length(regexp_split_to_array(btrim(v), '\\s+'), 1), 1)) - 1) i
  ) w
$f$;

-- Keep the format: each digit becomes a digit, each ASCII letter a letter of its case, the rest stays.
CREATE FUNCTION ${s}.g_digits(v text, b bytea, letters boolean) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT coalesce(string_agg(CASE
      WHEN a BETWEEN 48 AND 57 THEN chr(48 + get_byte(b, i::int - 1) % 10)
      WHEN letters AND a BETWEEN 97 AND 122 THEN chr(97 + get_byte(b, i::int - 1) % 26)
      WHEN letters AND a BETWEEN 65 AND 90 THEN chr(65 + get_byte(b, i::int - 1) % 26)
      ELSE c END, '' ORDER BY i), '')
  FROM (SELECT c, i, ascii(c) a FROM unnest(string_to_array(v, NULL)) WITH ORDINALITY AS u(c, i)) t
$f$;

-- A phone keeps its layout (digits replaced); one without digits becomes a fictional 555-01xx number.
CREATE FUNCTION ${s}.g_phone(v text, b bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT CASE WHEN v ~ '[0-9]' THEN ${s}.g_digits(v, b, false) ELSE '555-01' || lpad((${s}.pick(b, 0, 100))::text, 2, '0') END
$f$;

-- The one entry point: mask(generator, value, rule seed). NULL stays NULL and '' stays ''.
CREATE FUNCTION ${s}.mask(gen text, v text, seed text) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $f$
DECLARE
  r text;
  b bytea;
BEGIN
  IF v = '' THEN RETURN v; END IF;
  FOR salt IN 0..7 LOOP
    b := ${s}.stream(seed || chr(31) || gen || chr(31) || salt::text || chr(31) || v, greatest(64, length(v) + 2, 2 * least(500, length(v)) + 2));
    r := CASE gen
      WHEN 'name' THEN ${s}.g_name(b)
      WHEN 'email' THEN ${s}.g_email(b)
      WHEN 'address' THEN ${s}.g_address(b)
      WHEN 'text' THEN ${s}.g_text(v, b)
      WHEN 'digits' THEN ${s}.g_digits(v, b, true)
      WHEN 'phone' THEN ${s}.g_phone(v, b)
    END;
    IF r IS NULL THEN RAISE EXCEPTION 'mayfly_mask: no generator "%" (one of ${MASK_GENERATORS.join(', ')})', gen; END IF;
    IF r <> v THEN RETURN r; END IF;
  END LOOP;
  RETURN r;
END
$f$;

-- The Luhn check of a string of 13 to 19 digits (all zeros is not a card).
CREATE FUNCTION ${s}.luhn(d text) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT CASE WHEN d !~ '^[0-9]{13,19}$' OR d ~ '^0+$' THEN false ELSE (
    SELECT sum(CASE WHEN (length(d) - i) % 2 = 1 THEN (x * 2) / 10 + (x * 2) % 10 ELSE x END) % 10 = 0
    FROM (SELECT i, substr(d, i, 1)::int x FROM generate_series(1, length(d)) i) t) END
$f$;

-- Whether a value holds a Luhn-valid card number (13 to 19 digits, maybe spaced or dashed).
CREATE FUNCTION ${s}.has_card(v text) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT v ~ '[0-9]{4}' AND EXISTS (SELECT 1 FROM regexp_matches(v, '${CARD_RUN_RE}', 'g') m WHERE ${s}.luhn(regexp_replace(m[2], '[^0-9]', '', 'g')))
$f$;

CREATE FUNCTION ${s}.has_email(v text) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT v ~ '${EMAIL_RE}'
$f$;

CREATE FUNCTION ${s}.has_phone(v text) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT v ~ '${PHONE_RE}'
$f$;
`;
}
