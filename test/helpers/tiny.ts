/** The tiny template fixture (one Debian container, healthy in a second): for admission, load and soak. */
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';

export const TINY_TEMPLATES_DIR = path.join(projectRoot(), 'test', 'fixtures', 'templates');
