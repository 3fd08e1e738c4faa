import { strategySuite } from '../helpers/strategy-suite.js';

strategySuite('copy');
strategySuite('restore');
