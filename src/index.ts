import * as core from './workflow-commands';
import { run } from './main';

run().catch((error: Error) => core.setFailed(`bluegreen-action crashed: ${error.stack ?? error.message}`));
