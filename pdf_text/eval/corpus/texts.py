"""Ground-truth texts of the corpus.

Short and realistic, with numbers, punctuation, accented Latin letters (é ü ß ...) and words that
typesetters turn into ligatures (office, first, fluffy, final). Every character used here is in
Windows-1252, so the same text can be drawn with a standard-14 font under WinAnsiEncoding.
"""

INVOICE = """INVOICE No. 2024-0917
Müller & Söhne GmbH, Königstraße 12, 70173 Stuttgart
Date: 28.11.2024 Due: 12.12.2024
Bill to: Café Zoë Ltd, 4 Rue de l'Église, 69002 Lyon
Item Qty Unit price Amount
Office chairs (ergonomic) 4 €189.50 €758.00
Fluffy cushions 10 €12.99 €129.90
First-aid kit 1 €45.00 €45.00
Subtotal: €932.90
VAT 19%: €177.25
Total due: €1,110.15
Payment: IBAN DE89 3704 0044 0532 0130 00 — thank you!"""

LETTER = """Dear Ms. Fischer,
Thank you for your letter of 3 November. We are delighted to confirm that your office will be ready on the first of January.
The fluffy carpets you asked for have been ordered; the final invoice follows separately.
Our naïve estimate of 14 days turned out to be too optimistic, so we apologise for the delay.
Should you have any questions, please call +49 89 1234-567.
Kind regards,
Jürgen Weiß
Facility Manager"""

RECIPE = """Fluffy Soufflé Pancakes (serves 4)
Ingredients: 3 eggs, 150 g flour, 200 ml milk, 1 tsp baking powder, 30 g sugar, a pinch of salt.
1. Separate the eggs; whisk the whites until stiff and fluffy.
2. Mix the yolks with milk, flour and baking powder until smooth.
3. Fold in the whites — gently! — and cook on low heat for 4–5 minutes per side.
Tip: a crème fraîche topping with blueberries makes them irresistible.
Difficulty: easy; total time about 25 min."""

# Three pages: each entry is one page.
REPORT_PAGES = [
    """Quarterly Report Q3 2024
1. Summary
Revenue grew by 12.4% to €3.2 million, driven by the new office in Zürich.
The first two months were flat; September alone contributed 41% of the quarter.
Staff costs rose to €1.1 million after five hires in engineering.""",
    """2. Operations
The Düsseldorf warehouse shipped 18,240 orders, up from 15,975 in Q2.
Average delivery time fell from 3.8 to 2.9 days; returns stayed below 1.5%.
The fluffy toy line sold out twice, so the supplier in Porto doubled its capacity.""",
    """3. Outlook
For Q4 we expect revenue between €3.4 and €3.6 million.
Risks: currency effects, a late Christmas season and the final certification of our façade panels.
Approved by the board on 14 October 2024.""",
]
REPORT = "\n".join(REPORT_PAGES)

TEXTS = {"invoice": INVOICE, "letter": LETTER, "recipe": RECIPE, "report": REPORT}


def pages_of(name):
    """The text of each page of a document (only the report has several)."""
    return REPORT_PAGES if name == "report" else [TEXTS[name]]
