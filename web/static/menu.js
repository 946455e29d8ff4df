// The header's Menu button (GOV.UK's header pattern): on a narrow screen
// the links fold behind it and open inside the black bar. Without this
// script the button stays hidden and the links wrap in the bar instead.
(function () {
  'use strict';
  var header = document.querySelector('.header');
  var button = header && header.querySelector('.menu-button');
  var menu = button && document.getElementById(button.getAttribute('aria-controls'));
  if (!menu) {
    return;
  }
  header.classList.add('header-js');
  button.hidden = false;
  button.addEventListener('click', function () {
    var open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    header.classList.toggle('menu-open', open);
  });
})();
