import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { projectRoot } from '../../core/config/config.js';

/** api/views and api/public in the project (also when running the compiled dist/, which has no copy). */
export const VIEWS_DIR = path.join(projectRoot(), 'api', 'views');
export const PUBLIC_DIR = path.join(projectRoot(), 'api', 'public');

/**
 * Compiles every view (api/views/*.hbs), partial (api/views/partials/*.hbs) and the layout once,
 * at start. Views use only double-stash {{value}}, which escapes; the one triple-stash is the
 * layout's {{{body}}}, the HTML of a view rendered here.
 */
export class Views {
  private readonly hbs = Handlebars.create();
  private readonly views = new Map<string, HandlebarsTemplateDelegate>();
  private readonly layout: HandlebarsTemplateDelegate;

  constructor(dir = VIEWS_DIR) {
    const hbs = this.hbs;
    hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
    hbs.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
    hbs.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''));
    hbs.registerHelper('urlpart', (v: unknown) => encodeURIComponent(String(v ?? '')));
    for (const file of readdirSync(path.join(dir, 'partials'))) {
      if (file.endsWith('.hbs')) hbs.registerPartial(file.slice(0, -4), readFileSync(path.join(dir, 'partials', file), 'utf8'));
    }
    for (const file of readdirSync(dir)) {
      if (file.endsWith('.hbs')) this.views.set(file.slice(0, -4), hbs.compile(readFileSync(path.join(dir, file), 'utf8'), { strict: false }));
    }
    const layout = this.views.get('layout');
    if (!layout) throw new Error(`no layout.hbs in ${dir}`);
    this.layout = layout;
  }

  render(view: string, context: Record<string, unknown>): string {
    const fn = this.views.get(view);
    if (!fn) throw new Error(`no view named ${view}`);
    return this.layout({ ...context, body: fn(context) });
  }
}
