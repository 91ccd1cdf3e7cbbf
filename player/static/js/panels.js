// Panels: settings that open under the player's controls from a button
// (aria-expanded). One is open at a time; Escape closes it and gives the
// focus back to its button.

/** pairs: [[button, panel], …]. */
export function disclosurePanels(pairs) {
  const close = (button, panel) => {
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
  };
  for (const [button, panel] of pairs) {
    button.setAttribute('aria-expanded', String(!panel.hidden));
    button.addEventListener('click', () => {
      const open = panel.hidden;
      for (const [b, p] of pairs) close(b, p);
      if (!open) return;
      panel.hidden = false;
      button.setAttribute('aria-expanded', 'true');
      (panel.querySelector('input:checked') || panel.querySelector('select:not(:disabled), input'))?.focus();
    });
    panel.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      close(button, panel);
      button.focus();
    });
    panel.addEventListener('submit', (e) => e.preventDefault());
  }
}
