export { toOpenApi30 } from './openapi';
