// The pages' behaviour, all optional: without this script every page
// still works (the menu's links wrap in the bar, the error summary is
// still first on the page).
(function () {
  'use strict';

  // The header's Menu button (GOV.UK's header pattern): on a narrow screen
  // the links fold behind it and open inside the black bar.
  var header = document.querySelector('.header');
  var button = header && header.querySelector('.menu-button');
  var menu = button && document.getElementById(button.getAttribute('aria-controls'));
  if (menu) {
    header.classList.add('header-js');
    button.hidden = false;
    button.addEventListener('click', function () {
      var open = button.getAttribute('aria-expanded') !== 'true';
      button.setAttribute('aria-expanded', open ? 'true' : 'false');
      header.classList.toggle('menu-open', open);
    });
  }

  // The error summary (GOV.UK's pattern) takes the focus, so a screen
  // reader says the problems first; each of its links moves the focus to
  // its field, scrolled so the field's label or legend shows too.
  var summary = document.getElementById('error-summary');
  if (!summary) {
    return;
  }
  if (document.activeElement !== summary) {
    summary.focus();
  }
  summary.addEventListener('click', function (e) {
    var link = e.target.closest('a[href^="#"]');
    var target = link && document.getElementById(link.getAttribute('href').slice(1));
    if (!target) {
      return;
    }
    var field = target.matches('input, select, textarea, button') ? target :
      target.querySelector('input:not([type=hidden]), select, textarea');
    if (!field) {
      return;
    }
    e.preventDefault();
    var legend = field.closest('fieldset') && field.closest('fieldset').querySelector('legend');
    var label = (field.id && document.querySelector('label[for="' + field.id + '"]')) || legend || field;
    label.scrollIntoView();
    field.focus({ preventScroll: true });
  });
})();
