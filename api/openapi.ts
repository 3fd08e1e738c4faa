/**
 * The OpenAPI 3.1 description of REST v1, served at /api/v1/openapi.json. It is made from the
 * route table in core/api/routes.ts and the zod schemas the doors validate with
 * (core/api/schemas.ts). test/integration/openapi.test.ts walks the Express router: every route
 * under /api/v1 must be described, and every path+method described must exist.
 */
export { API_VERSION, openApiDocument } from '../core/api/openapi.js';
