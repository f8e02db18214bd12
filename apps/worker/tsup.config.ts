import { buildConfig } from '../../tsup.base';

export default buildConfig(['src/main.ts', 'src/index.ts']);
