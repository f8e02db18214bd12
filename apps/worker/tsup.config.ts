import { buildConfig } from '../../tsup.base';

export default buildConfig({ main: 'src/main.ts', index: 'src/index.ts', 'sandbox-child': 'src/files/sandbox-child.ts' });
